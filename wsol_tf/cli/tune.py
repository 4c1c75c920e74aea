r"""Hyper-parameter search on the val split (train-fullsup), KerasTuner.

The protocol of Choe et al. (CVPR 2020): every WSOL hyper-parameter is
selected on the small fully annotated val split, by a random search of 30
trials per method and dataset. One trial is one tools/train.py run; its
score is val MaxBoxAccV2 (val PxAP on mask datasets) at its last epoch.

    python tools/tune.py --flagfile=flags/synthetic_resnet50_icl.flags \
        --model_dir=runs/tune_icl --max_trials=30

Every tools/train.py flag sets the settings that are not searched (the
search's base; flagfiles work). The searched settings and their ranges are
declared per method (wsol_tf/tuning/space.py; see --search_space), written
to <model_dir>/search.json. At the end the search directory holds:

    trials/trial_<id>/   each trial's training run (test split = val,
                         no export, no visualizations) and result.json
    trials.{md,csv,json} every trial: val score, seconds, searched values
    best.flags           the best trial: `python tools/train.py
                         --flagfile=<model_dir>/best.flags` reruns it
    best_test.json       test metrics of the best trial only (its last
                         checkpoint), evaluated once after the selection

Rerunning the same command resumes an interrupted search (finished trials
are not repeated). Distributed: run the command on every machine with
KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT and KERASTUNER_TUNER_ID
(one process with an id containing "chief" serves the oracle and writes
the results; the others, e.g. tuner0, tuner1, run trials), with
--model_dir on a filesystem they share.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TF C++ start-up

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from wsol_tf.cli import config_flags  # noqa: E402
from wsol_tf.cli import flagfiles  # noqa: E402
from wsol_tf.cli.errors import run_tool  # noqa: E402
from wsol_tf.tuning import space as space_lib  # noqa: E402

flags.adopt_module_key_flags(config_flags)

_TUNER = flagfiles.define_once(
    flags.DEFINE_enum,
    "tuner",
    "random",
    ["random", "bayesian"],
    "KerasTuner search algorithm.",
)
_MAX_TRIALS = flagfiles.define_once(
    flags.DEFINE_integer,
    "max_trials",
    30,
    "Trials in all (the protocol: 30).",
    lower_bound=1,
)
_EXECUTIONS = flagfiles.define_once(
    flags.DEFINE_integer,
    "executions_per_trial",
    1,
    "Training runs per trial (seeds seed, seed+1, ...); the score is their "
    "mean.",
    lower_bound=1,
)
_SPACE = flagfiles.define_once(
    flags.DEFINE_multi_string,
    "search_space",
    [],
    "Replaces or adds one searched setting (repeat the flag): "
    "NAME=uniform:LOW:HIGH, NAME=log:LOW:HIGH or NAME=choice:A,B,... "
    "(a single choice fixes it). NAME is a tools/train.py flag; its range "
    "must be valid for that flag. Declared spaces (--method, --contrastive "
    "pick them):\n" + space_lib.describe_spaces(),
)


def _space(config):
    space = space_lib.default_space(
        config.model.method, config.loss.contrastive
    )
    for entry in _SPACE.value:
        name, rng = space_lib.parse_range(entry)
        space[name] = rng
    space_lib.validate_space(space, config)
    return space


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    flagfiles.quiet_logging()
    config = config_flags.config_from_flags()
    space = _space(config)
    from wsol_tf import tuning

    print("Search space:")
    for name, rng in space.items():
        print(f"  {name}: {rng}")
    out = tuning.run_search(
        config,
        space,
        tuner=_TUNER.value,
        max_trials=_MAX_TRIALS.value,
        executions_per_trial=_EXECUTIONS.value,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    if out is None:
        print("Worker done: the chief writes the results.")
        return
    table, best, report = out
    print(table)
    if best is None:
        sys.exit("ERROR: no trial completed.")
    model_dir = config.train.model_dir
    print(f"Best trial {best['trial_id']}: val score {best['score']:.4f}")
    print(f"Flagfile: {os.path.join(model_dir, 'best.flags')}")
    metrics = report["metrics"]
    shown = ", ".join(f"{k}={v:.2f}" for k, v in metrics.items())
    print(f"Test ({report['split']} split, best trial only): {shown}")


def run():
    """Console-script entry point (`wsol-tune`)."""
    run_tool(main)
