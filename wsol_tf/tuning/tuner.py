"""KerasTuner over `run_training`: one trial = one training run.

`WSOLTuner` is a `keras_tuner.Tuner` whose `run_trial` builds the trial's
`ExperimentConfig` (the search's base config with the trial's values) and
trains it with `wsol_tf.training.run_training`. The trial's score is the
objective (`val_maxboxaccv2`, or `val_pxap` on mask datasets) of the
LAST epoch, read from the run's `history.csv`: the protocol tests the last
checkpoint, so the selected trial is the one whose final model is best on
val (train-fullsup). Inside a trial the test split is replaced by the val
split, so no trial ever evaluates test (`run_training` evaluates its test
split at the end); the best trial alone is tested, once, after the search
(`results.test_best_trial`). Export and visualization are off in trials.

Layout of the search directory (`model_dir`):

```
search.json              objective, tuner, space, base config (resume check)
trials/oracle.json       KerasTuner oracle state; trials/tuner0.json
trials/trial_<id>/       trial.json (KerasTuner), trial_config.json (the
                         trial's settings), result.json (score, time) and
                         the run's output (config.json, checkpoints/, ...);
                         executions after the first: execution_<i>/
```
"""

import gc
import os
import time

import keras
import keras_tuner
from keras_tuner.src.distribute import utils as dist_utils

from wsol_tf.errors import DivergenceError
from wsol_tf.io_utils import write_json
from wsol_tf.tuning import space as space_lib

PROJECT = "trials"
TUNERS = ("random", "bayesian")


def objective_name(config):
    """`val_pxap` for mask datasets (OpenImages), else `val_maxboxaccv2`."""
    data = config.data
    if data.mask_metadata_root or data.dataset_name == "openimages":
        return "val_pxap"
    return "val_maxboxaccv2"


def build_oracle(kind, objective, max_trials, seed=None):
    """A KerasTuner oracle maximising `objective`: random or bayesian.

    Failed trials (a run that diverged, see `WSOLTuner.run_trial`) do not
    stop the search: the protocol's learning-rate range reaches 1, where
    several trials in a row can diverge (KerasTuner's default stops after
    3 consecutive failures).
    """
    objective = keras_tuner.Objective(objective, direction="max")
    if kind == "random":
        cls = keras_tuner.oracles.RandomSearchOracle
    elif kind == "bayesian":
        cls = keras_tuner.oracles.BayesianOptimizationOracle
    else:
        raise ValueError(f"Expected tuner in {TUNERS}. Received: {kind!r}")
    try:
        return cls(
            objective=objective,
            max_trials=max_trials,
            seed=seed,
            max_consecutive_failed_trials=max_trials,
        )
    except ImportError as e:  # bayesian needs scipy
        raise ValueError(
            f"--tuner={kind}: {e} (pip install -e .[tune] installs it)"
        ) from None


class _SpaceModel(keras_tuner.HyperModel):
    """Declares the space; the model itself is built by `run_training`."""

    def __init__(self, space):
        super().__init__()
        self.space = space

    def declare_hyperparameters(self, hp):
        space_lib.declare(hp, self.space)

    def build(self, hp):
        space_lib.declare(hp, self.space)


def execution_dir(trial_dir, index):
    """Output directory of execution `index` of a trial."""
    if index == 0:
        return trial_dir
    return os.path.join(trial_dir, f"execution_{index}")


def trial_run_config(config, run_dir, index=0):
    """What one execution trains: no export, no images, test split = val.

    Execution `index` uses seed `train.seed + index`.
    """
    return config.replace(
        data=config.data.replace(test_split=config.data.val_split),
        train=config.train.replace(
            model_dir=run_dir,
            export=False,
            visualize=False,
            seed=config.train.seed + index,
        ),
    )


def last_epoch_score(run_dir, objective, epochs):
    """The objective of the last epoch in `<run_dir>/history.csv`."""
    import csv

    path = os.path.join(run_dir, "history.csv")
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if not rows or int(rows[-1]["epoch"]) != epochs - 1:
        raise keras_tuner.errors.FailedTrialError(
            f"{path}: expected {epochs} epochs of logs."
        )
    if not rows[-1].get(objective):
        raise keras_tuner.errors.FatalError(
            f"{path}: no {objective} in the last epoch's logs (does the val "
            "split have the annotations this objective needs?)."
        )
    return float(rows[-1][objective])


class WSOLTuner(keras_tuner.Tuner):
    """Runs each trial as `run_training(config)` of the trial's settings.

    Args:
        oracle: a KerasTuner oracle (`build_oracle`).
        base_config: the `ExperimentConfig` of the settings not searched.
        space: `{setting name: Range}`, validated (`validate_space`).
        directory: the search directory.
        executions_per_trial: runs per trial (seeds seed, seed+1, ...);
            the score is their mean.
        verbose: `model.fit` verbosity of the runs; not 0: also a progress
            bar with ETA over the trials this search runs.
    """

    def __init__(
        self,
        oracle,
        base_config,
        space,
        directory,
        executions_per_trial=1,
        verbose=2,
    ):
        self.base_config = base_config
        self.space = space
        self.verbose = verbose
        self._trials_bar = None
        super().__init__(
            oracle=oracle,
            hypermodel=_SpaceModel(space),
            directory=directory,
            project_name=PROJECT,
            overwrite=False,
            executions_per_trial=executions_per_trial,
        )

    def on_search_begin(self):
        super().on_search_begin()
        if not self.verbose:
            return
        # A worker's oracle is the chief's: it cannot count the trials.
        left = None
        if not dist_utils.has_chief_oracle():
            left = self.oracle.remaining_trials()
            total = self.oracle.max_trials
            print(
                f"Search: {total - left} of {total} trials done, up to "
                f"{left} to run.",
                flush=True,
            )
        self._trials_bar = keras.utils.Progbar(left, unit_name="trial")

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if self._trials_bar is not None:
            self._trials_bar.add(1)
            print(flush=True)  # the trial's own output starts a new line

    def trial_config(self, trial):
        """The `ExperimentConfig` a trial stands for (model_dir: its dir)."""
        values = {n: trial.hyperparameters.get(n) for n in self.space}
        config = space_lib.apply(self.base_config, values)
        trial_dir = self.get_trial_dir(trial.trial_id)
        return config.replace(train=config.train.replace(model_dir=trial_dir))

    def run_trial(self, trial, *args, **kwargs):
        from wsol_tf.training import run_training

        config = self.trial_config(trial)
        trial_dir = config.train.model_dir
        write_json(
            os.path.join(trial_dir, "trial_config.json"), config.to_dict()
        )
        objective = self.oracle.objective.name
        executions = []
        for index in range(self.executions_per_trial):
            run_dir = execution_dir(trial_dir, index)
            run_config = trial_run_config(config, run_dir, index)
            keras.backend.clear_session()
            gc.collect()
            start = time.time()
            try:
                run_training(run_config, verbose=self.verbose)
            except DivergenceError as e:
                # A failed trial (no retry, no score), not a failed search.
                raise keras_tuner.errors.FailedTrialError(
                    f"{run_dir}: {e}"
                ) from e
            # run_training's final "test" report is of the val split here.
            report = os.path.join(run_dir, "metrics_test.json")
            if os.path.exists(report):
                os.replace(report, os.path.join(run_dir, "metrics_val.json"))
            score = last_epoch_score(run_dir, objective, config.train.epochs)
            executions.append(
                {
                    "dir": run_dir,
                    "seed": run_config.train.seed,
                    objective: score,
                    "seconds": time.time() - start,
                }
            )
        write_json(
            os.path.join(trial_dir, "result.json"),
            {
                "trial_id": trial.trial_id,
                "objective": objective,
                "score": sum(e[objective] for e in executions)
                / len(executions),
                "seconds": sum(e["seconds"] for e in executions),
                "executions": executions,
            },
        )
        return [{objective: e[objective]} for e in executions]
