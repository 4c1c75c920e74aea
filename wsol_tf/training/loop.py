"""run_training / finish: one experiment from config to exported model."""

import dataclasses
import json
import os

import keras

from wsol_tf import distribute
from wsol_tf import visualization
from wsol_tf.callbacks import AtomicBackupAndRestore
from wsol_tf.callbacks import AtomicModelCheckpoint
from wsol_tf.callbacks import CamImageSummary
from wsol_tf.callbacks import HistoryCSVLogger
from wsol_tf.callbacks import LocalizationMetricsCallback
from wsol_tf.callbacks import StopOnNonFinite
from wsol_tf.data import build_dataset
from wsol_tf.data import name_undecodable_images
from wsol_tf.data import split_labels
from wsol_tf.data.pipeline import training_stream
from wsol_tf.errors import CorruptFileError
from wsol_tf.evaluation.box_evaluator import curve_best_thresholds
from wsol_tf.evaluation.runner import best_thresholds
from wsol_tf.evaluation.runner import evaluate_model
from wsol_tf.evaluation.runner import progress_bar
from wsol_tf.evaluation.runner import serving_threshold
from wsol_tf.export import export_saved_model
from wsol_tf.io_utils import remove_orphan_temps
from wsol_tf.io_utils import write_json
from wsol_tf.models import build_model
from wsol_tf.optimizers import build_optimizer
from wsol_tf.training.callbacks import step_decay
from wsol_tf.training.reporting import format_metrics_table
from wsol_tf.training.reporting import protocol_settings
from wsol_tf.training.resolve import loads_pretrained_classifier
from wsol_tf.training.resolve import resolve_experiment
from wsol_tf.training.run_lock import run_dir_lock
from wsol_tf.training.run_record import check_run_record


def _has_tensorboard():
    """tf.summary needs the `tensorboard` package (not a TF dependency)."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        print(
            "TensorBoard logs skipped: `pip install tensorboard` to get "
            "scalars and CAM images under <model_dir>/logs.",
            flush=True,
        )
        return False
    return True


def _callbacks(model_dir, config, chief, task, val_ds, resuming, verbose):
    train = config.train
    schedule = step_decay(
        train.learning_rate, train.lr_decay_epochs, train.lr_decay_factor
    )
    # First: a non-finite loss or weight fails the run before any callback
    # evaluates, checkpoints or backs up the diverged weights.
    cbs = [StopOnNonFinite(), keras.callbacks.LearningRateScheduler(schedule)]
    if val_ds is not None and train.eval_every_epochs > 0:
        cbs.append(
            LocalizationMetricsCallback(
                val_ds,
                eval_config=config.eval,
                every_n_epochs=train.eval_every_epochs,
                verbose=int(verbose != 0),
            )
        )
    cbs += [
        AtomicModelCheckpoint(
            os.path.join(model_dir, "checkpoints"), chief=chief
        ),
        AtomicBackupAndRestore(
            _backup_dir(model_dir, chief, task), delete_checkpoint=False
        ),
    ]
    if chief and _has_tensorboard():
        log_dir = os.path.join(model_dir, "logs")
        cbs.append(keras.callbacks.TensorBoard(log_dir, write_graph=False))
        if val_ds is not None:
            # Read here, outside fit's guard: name a corrupt image too.
            with name_undecodable_images(config.data, [config.data.val_split]):
                batch = next(iter(val_ds))
            cbs.append(
                CamImageSummary(
                    batch, log_dir, config.data.resolved_normalization()
                )
            )
    if chief:
        cbs.append(
            HistoryCSVLogger(
                os.path.join(model_dir, "history.csv"), append=resuming
            )
        )
    return cbs


def _backup_dir(model_dir, chief, task):
    return os.path.join(model_dir, "backup" if chief else f"backup_{task}")


def _backed_up_epoch(backup_dir):
    """Epochs finished according to the backup (0 without one)."""
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.isfile(path):
        return 0
    try:
        with open(path) as f:
            return int(json.load(f)["epoch"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CorruptFileError(
            f"The backup in {backup_dir} cannot be resumed ({path} is not "
            f"valid: {e}): delete that directory to train this model_dir "
            "again from epoch 1, or use another model_dir."
        ) from e


def _remove_orphan_temps(model_dir):
    """Temp files of a write killed in a previous run of this model_dir."""
    if not os.path.isdir(model_dir):
        return
    dirs = [os.path.join(model_dir, "checkpoints")] + [
        os.path.join(model_dir, name)
        for name in sorted(os.listdir(model_dir))
        if name == "backup" or name.startswith("backup_")
    ]
    removed = [p for d in dirs for p in remove_orphan_temps(d)]
    if removed:
        print(
            f"Removed {len(removed)} temporary file(s) of an interrupted "
            f"write: {', '.join(removed)}",
            flush=True,
        )


def _patch_for_multi_worker(model):
    """Works around two Keras 3 bugs with MultiWorkerMirroredStrategy.

    keras-team/keras#20585: (1) the pre-fit symbolic build reduces a
    PerReplica batch eagerly, which the strategy rejects: without the
    captured strategy the (already built) model skips it, and `fit` runs
    under `strategy.scope()`; (2) the step outputs are reduced with
    `strategy.reduce("MEAN", v, axis=0)`, which fails on scalar logs: the
    logs are given a leading axis of 1 (the mean over workers is a scalar).
    Undone after `fit`.
    """
    import tensorflow as tf

    model._distribute_strategy = None
    train_step = model.train_step

    def train_step_with_axis(data):
        return {k: tf.reshape(v, [1]) for k, v in train_step(data).items()}

    model.train_step = train_step_with_axis


def run_training(config, *, callbacks=(), verbose="auto"):
    """Trains, evaluates, visualizes and exports one experiment.

    Args:
        config: `ExperimentConfig`; `train.model_dir` is required.
        callbacks: extra Keras callbacks, appended after the built-in ones.
        verbose: `model.fit` verbosity.

    Returns:
        `(model, history, final_metrics)`: the trained `WSOLModel`, the
        `keras.callbacks.History` of this `fit` call (only the epochs run
        now when resuming) and the test-split metrics dict.

    Raises:
        RunDirLockedError: another live run uses `model_dir`.
        DivergenceError: a non-finite loss or weight (nothing of the
            diverged epoch is saved).
        WriteError: a checkpoint / backup / report write failed (full or
            read-only disk); the previous files are kept.
        CorruptFileError: the backup to resume cannot be read.
    """
    train = config.train
    if not train.model_dir:
        raise ValueError(
            "run_training needs an output directory. Received: model_dir=''"
        )
    # Multi-worker and TPU strategies must exist before other TF ops.
    strategy = distribute.get_strategy(train.strategy, train.tpu_address)
    # One run per model_dir, taken before anything is written there.
    with run_dir_lock(train.model_dir, enabled=distribute.is_chief(strategy)):
        _remove_orphan_temps(train.model_dir)
        return _run_training(config, strategy, callbacks, verbose)


def _run_training(config, strategy, callbacks, verbose):
    train = config.train
    policy = distribute.set_precision(train.precision)
    keras.utils.set_random_seed(train.seed)
    config = resolve_experiment(config)
    config = dataclasses.replace(
        config, train=config.train.replace(precision=policy)
    )
    data = config.data
    model_dir = train.model_dir
    chief = distribute.is_chief(strategy)
    task = distribute.task_name(strategy)
    # The recorded settings: continue the run, refuse, or (overwrite)
    # move it aside; `resuming` is then read from what is left.
    if chief:
        check_run_record(config)
    resuming = os.path.exists(
        os.path.join(model_dir, "backup", "training_metadata.json")
    )
    start_epoch = _backed_up_epoch(_backup_dir(model_dir, chief, task))
    if chief:
        write_json(os.path.join(model_dir, "config.json"), config.to_dict())
    # The last, smaller batch is kept (PyTorch's loader) on one replica.
    # The stream restarts where the backup's epoch ended: a resumed run
    # sees the batches an uninterrupted one would.
    drop_remainder = strategy.num_replicas_in_sync > 1
    train_ds, steps = training_stream(
        data,
        data.train_split,
        start_epoch=start_epoch,
        steps_per_epoch=train.steps_per_epoch or None,
        drop_remainder=drop_remainder,
    )
    val_ds = None
    if train.eval_every_epochs > 0 or train.visualize:
        val_ds = build_dataset(data, data.val_split, training=False)
    with strategy.scope():
        model = build_model(
            config.model,
            image_size=data.image_size,
            classifier=loads_pretrained_classifier(
                config.model, data.dataset_name
            ),
        )
        model.compile(
            optimizer=build_optimizer(train, model), objective=config.loss
        )
        model.optimizer.build(model.trainable_variables)
    if train.strategy == "multi_worker":
        _patch_for_multi_worker(model)
    cbs = _callbacks(model_dir, config, chief, task, val_ds, resuming, verbose)
    splits = (data.train_split, data.val_split, data.test_split)
    with name_undecodable_images(data, splits), strategy.scope():
        history = model.fit(
            train_ds,
            epochs=train.epochs,
            steps_per_epoch=steps,
            shuffle=False,  # the dataset is shuffled (seeded) already
            callbacks=cbs + list(callbacks),
            verbose=verbose,
        )
    if train.strategy == "multi_worker":
        model._distribute_strategy = strategy
        del model.train_step
    with name_undecodable_images(data, splits):
        final = finish(model, config, write_outputs=chief)
    return model, history, final


def _last_val_thresholds(model, config):
    """Best CAM thresholds of the callback's val evaluation of the final
    weights (from `model.history`), or None when it did not run then."""
    history = getattr(model, "history", None)
    every = config.train.eval_every_epochs
    if history is None or not getattr(history, "epoch", None) or every <= 0:
        return None
    if (history.epoch[-1] + 1) % every:
        return None
    last = {k: v[-1] for k, v in history.history.items() if v}
    if "val_num_images" not in last:
        return None
    return best_thresholds(last, prefix="val_")  # empty: val has no boxes


def finish(model, config, write_outputs=True):
    """Test-split metrics (printed, JSON), visualizations and the export.

    All three use the model in float32 (`WSOLModel.as_float32`), whatever
    the training precision, so the SavedModel serves the evaluated CAMs.

    The CAM threshold of the drawn and served boxes is the one of
    MaxBoxAcc@50 on the val split (train-fullsup), never chosen on test:
    the one `LocalizationMetricsCallback` computed on the final weights
    when it ran at the last epoch, else from one evaluation of val.
    """
    data, model_dir = config.data, config.train.model_dir
    # Float32 inference: the metrics' CAMs are the SavedModel's. The
    # callback's val thresholds are reused only when they are of these
    # CAMs (a float32 run); else val is evaluated once more, in float32.
    trained, model = model, model.as_float32()
    test_ds = build_dataset(data, data.test_split, training=False)
    details = evaluate_model(
        model,
        test_ds,
        config.eval,
        progress=progress_bar(test_ds) if write_outputs else None,
        return_details=True,
    )
    metrics = details.metrics
    report = {
        "metrics": metrics,
        "protocol": protocol_settings(data, config.eval, data.test_split),
    }
    train = config.train
    if write_outputs and (train.visualize or train.export):
        thresholds = (
            _last_val_thresholds(trained, config) if model is trained else None
        )
        if thresholds is None:  # no val evaluation of the final weights
            val_ds = build_dataset(data, data.val_split, training=False)
            curve = visualization.split_box_curve(model, val_ds, config.eval)
            thresholds = curve and curve_best_thresholds(curve)
        threshold = serving_threshold(thresholds)
        report["cam_threshold"] = {
            "value": threshold,
            "source": f"MaxBoxAcc@50 on the {data.val_split} split",
        }
    if write_outputs and train.visualize:
        report["visualizations"] = visualization.visualize_split(
            model,
            test_ds,
            os.path.join(model_dir, "visualizations"),
            normalization=data.resolved_normalization(),
            eval_config=config.eval,
            threshold=threshold,
            suffix=data.test_split,
            curve=details.box_curve,
            labels=split_labels(data, data.test_split),
        )
    if write_outputs and train.export:
        report["saved_model"] = export_saved_model(
            model,
            os.path.join(model_dir, "saved_model"),
            image_size=data.eval_image_size,
            threshold=threshold,
            normalization=data.resolved_normalization(),
        )
    if write_outputs:
        write_json(os.path.join(model_dir, "metrics_test.json"), report)
        title = (
            f"Final localization metrics: {data.dataset_name} "
            f"{data.test_split} split, {config.model.architecture} "
            f"{config.model.method} (interval "
            f"{config.eval.cam_curve_interval}, multi-contour "
            f"{config.eval.multi_contour_eval})"
        )
        print(format_metrics_table(metrics, title), flush=True)
    return metrics
