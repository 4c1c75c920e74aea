"""What a finished search writes: the trials table, best.flags, best test.

`write_results` reads the oracle's trials and each trial's `result.json`:

```
trials.json / trials.csv / trials.md   every trial: id, status, val score,
                                       seconds, searched values
best.flags                             the best trial as a flagfile
best_test.json                         the best trial's test metrics
```

The test split is evaluated once, for the best trial only, from its last
checkpoint (the protocol's `eval_checkpoint_type=last`; the trial score is
the last epoch's val value). A rerun of a finished search reads
`best_test.json` back instead of testing again.
"""

import csv
import dataclasses
import json
import os

from wsol_tf import config as config_lib
from wsol_tf import settings
from wsol_tf.io_utils import write_json
from wsol_tf.tuning.tuner import execution_dir


def _read_json(path):
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def trial_rows(tuner):
    """One dict per trial, in trial-id order."""
    rows = []
    trials = sorted(tuner.oracle.trials.items(), key=lambda t: int(t[0]))
    for trial_id, trial in trials:
        trial_dir = tuner.get_trial_dir(trial_id)
        result = _read_json(os.path.join(trial_dir, "result.json")) or {}
        rows.append(
            {
                "trial_id": trial_id,
                "status": trial.status,
                "score": trial.score,
                "seconds": result.get("seconds"),
                "values": {
                    n: trial.hyperparameters.values.get(n) for n in tuner.space
                },
                "dir": trial_dir,
            }
        )
    return rows


def _cell(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def write_tables(rows, space, directory, objective):
    """trials.json, trials.csv and trials.md of `rows` (`trial_rows`)."""
    write_json(os.path.join(directory, "trials.json"), rows)
    names = list(space)
    header = ["trial_id", "status", objective, "seconds", *names]
    table = [
        [r["trial_id"], r["status"], r["score"], r["seconds"]]
        + [r["values"][n] for n in names]
        for r in rows
    ]
    with open(os.path.join(directory, "trials.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(table)
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(directory, "trials.md"), "w") as f:
        f.write(text)
    return text


def _flag_line(name, value):
    if isinstance(value, bool):
        return f"--{name}" if value else f"--no{name}"
    if isinstance(value, tuple):
        return f"--{name}=" + ",".join(str(v) for v in value)
    return f"--{name}={value}"


def config_to_flags(config):
    """Flagfile lines setting every flag of `config` (None: a comment)."""
    lines = []
    for section, cls in config_lib.ExperimentConfig._PARTS.items():
        part = getattr(config, section)
        for field in dataclasses.fields(cls):
            if settings.spec_of(cls, field.name).same_as:
                continue
            value = getattr(part, field.name)
            if value is None:
                lines.append(f"# --{field.name}: unset (None, the default)")
            else:
                lines.append(_flag_line(field.name, value))
    return lines


def write_best_flags(path, trial_config, trial_id, score, objective, space):
    """Writes `trial_config` as a flagfile for tools/train.py.

    Every setting is written (the searched values and the search's base
    settings), so `tools/train.py --flagfile=best.flags` trains exactly the
    trial's config; only `--model_dir` differs (`<search>/best_run`).
    """
    run_dir = os.path.join(os.path.dirname(path), "best_run")
    config = trial_config.replace(
        train=trial_config.train.replace(model_dir=run_dir)
    )
    header = [
        f"# Best trial {trial_id} of the search in {os.path.dirname(path)}",
        f"# ({objective} = {score:.6g} at the last epoch, on the "
        f"{config.data.val_split} split).",
        f"# Searched: {', '.join(space)}; every other value is the search's "
        "base setting.",
        f"# Reproduce: python tools/train.py --flagfile={path}",
        "",
    ]
    with open(path, "w") as f:
        f.write("\n".join(header + config_to_flags(config)) + "\n")


def test_best_trial(tuner, trial, path):
    """Test metrics of the best trial's executions (last checkpoints).

    Evaluated once: an existing `path` for the same trial is read back.
    """
    import keras

    from wsol_tf.callbacks.checkpoint import load_checkpoint
    from wsol_tf.data import build_dataset
    from wsol_tf.evaluation import evaluate_model
    from wsol_tf.evaluation.runner import progress_bar
    from wsol_tf.training import resolve_experiment

    done = _read_json(path)
    if done and done.get("trial_id") == trial.trial_id:
        return done
    config = resolve_experiment(tuner.trial_config(trial))
    split = config.data.test_split
    dataset = build_dataset(config.data, split, training=False)
    executions = []
    for index in range(tuner.executions_per_trial):
        run_dir = execution_dir(config.train.model_dir, index)
        # Checked and in float32, as run_training's final test report.
        model = load_checkpoint(
            os.path.join(run_dir, "checkpoints", "last.keras"),
            hint=f"the trial's other executions, or retrain {run_dir}",
        )
        metrics = evaluate_model(
            model, dataset, config.eval, progress=progress_bar(dataset)
        )
        metrics = {k: float(v) for k, v in metrics.items()}
        executions.append({"dir": run_dir, "metrics": metrics})
        keras.backend.clear_session()
    keys = executions[0]["metrics"]
    report = {
        "trial_id": trial.trial_id,
        "split": split,
        "checkpoint": "last",
        "metrics": {
            k: sum(e["metrics"][k] for e in executions) / len(executions)
            for k in keys
        },
        "executions": executions,
    }
    write_json(path, report)
    return report


def write_results(tuner):
    """Tables, best.flags and the best trial's test metrics.

    Returns:
        `(table markdown, best trial row, test report)`; the last two are
        None when no trial completed.
    """
    directory = tuner.directory
    objective = tuner.oracle.objective.name
    rows = trial_rows(tuner)
    table = write_tables(rows, tuner.space, directory, objective)
    completed = [r for r in rows if r["status"] == "COMPLETED"]
    if not completed:
        return table, None, None
    # The highest score; among equal scores the first trial.
    row = max(completed, key=lambda r: (r["score"], -int(r["trial_id"])))
    best = tuner.oracle.trials[row["trial_id"]]
    write_best_flags(
        os.path.join(directory, "best.flags"),
        tuner.trial_config(best),
        best.trial_id,
        best.score,
        objective,
        tuner.space,
    )
    report = test_best_trial(
        tuner, best, os.path.join(directory, "best_test.json")
    )
    return table, row, report
