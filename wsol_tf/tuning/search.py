"""`run_search`: a KerasTuner search over run_training, resumable.

The search directory's `search.json` records what defines the search (the
objective, the tuner, the space and the base config); a rerun with the same
directory resumes it (KerasTuner reloads its oracle, finished trials are
not run again, an interrupted trial reruns and its run resumes from its
backup) and refuses a different definition. Only `max_trials` may change
(to extend a search).

Distributed search: KerasTuner's chief/worker mode. Every process runs the
same command with `KERASTUNER_ORACLE_IP` / `KERASTUNER_ORACLE_PORT` and its
own `KERASTUNER_TUNER_ID`; the one whose id contains "chief" serves the
oracle and, once all trials are done, writes the results. The search
directory must be a filesystem all processes share.
"""

import json
import os

from keras_tuner.src.distribute import utils as dist_utils

from wsol_tf.io_utils import write_json
from wsol_tf.tuning import results as results_lib
from wsol_tf.tuning import space as space_lib
from wsol_tf.tuning import tuner as tuner_lib


def check_base_config(config):
    """The settings a search needs: a model_dir, val at the last epoch."""
    train = config.train
    if not train.model_dir:
        raise ValueError(
            "--model_dir (the search directory) is required. Received: "
            "model_dir=''"
        )
    every = train.eval_every_epochs
    if every < 1 or train.epochs % every:
        raise ValueError(
            "A trial is scored on val at its last epoch: expected "
            "eval_every_epochs >= 1 dividing epochs. Received: "
            f"epochs={train.epochs}, eval_every_epochs={every}"
        )


def _definition(config, space, objective, tuner, executions_per_trial):
    return {
        "objective": objective,
        "tuner": tuner,
        "executions_per_trial": executions_per_trial,
        "space": space_lib.to_json(space),
        "base_config": config.to_dict(),
    }


def _check_same_search(path, definition):
    if not os.path.isfile(path):
        return False
    with open(path) as f:
        saved = json.load(f)
    # Compare through JSON (tuples become lists).
    current = json.loads(json.dumps(definition))
    changed = sorted(k for k in current if saved.get(k) != current[k])
    if changed:
        raise ValueError(
            f"{path} holds a search with a different {', '.join(changed)}: "
            "resume it with the same flags, or use another --model_dir."
        )
    return True


def run_search(
    config,
    space,
    *,
    tuner="random",
    max_trials=30,
    executions_per_trial=1,
    verbose=2,
):
    """Searches `space` around `config`; writes the results.

    Args:
        config: the base `ExperimentConfig`; `train.model_dir` is the
            search directory.
        space: `{setting name: Range}` (validated here).
        tuner: "random" or "bayesian".
        max_trials: trials in all (across resumes and workers).
        executions_per_trial: training runs per trial.
        verbose: `model.fit` verbosity.

    Returns:
        `(table markdown, best trial row, test report)` on the chief (or a
        single process); None on a worker.
    """
    check_base_config(config)
    space_lib.validate_space(space, config)
    directory = config.train.model_dir
    objective = tuner_lib.objective_name(config)
    definition = _definition(
        config, space, objective, tuner, executions_per_trial
    )
    path = os.path.join(directory, "search.json")
    worker = dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle()
    if not _check_same_search(path, definition) and not worker:
        write_json(path, definition)
    oracle = tuner_lib.build_oracle(
        tuner, objective, max_trials, seed=config.train.seed
    )
    wsol_tuner = tuner_lib.WSOLTuner(
        oracle,
        config,
        space,
        directory,
        executions_per_trial=executions_per_trial,
        verbose=verbose,
    )
    wsol_tuner.search(verbose=int(verbose != 0))
    if worker:
        return None
    return results_lib.write_results(wsol_tuner)
