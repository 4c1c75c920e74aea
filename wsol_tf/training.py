"""run_training(config): the whole experiment of one ExperimentConfig.

Seeds, dataset resolution, dtype policy, distribution strategy, model,
SGD (Nesterov) with the protocol's per-epoch step decay, callbacks in the
order that matters, `model.fit`, then the final test evaluation, metrics
JSON, visualizations and the SavedModel export. Files under `model_dir`:

```
config.json              resolved ExperimentConfig (atomic)
checkpoints/last.keras   every epoch (atomic); best.keras on val improvement
backup/                  BackupAndRestore state: a rerun resumes from it
logs/                    TensorBoard scalars and CAM images
history.csv              per-epoch logs
metrics_test.json        final metrics of the test split (protocol pinned)
visualizations/          CAM grid and BoxAcc-vs-threshold curve PNGs
saved_model/             serving SavedModel (see wsol_tf.export)
```

A killed run restarted with the same `model_dir` resumes from the last
finished epoch (`backup/` is kept after the end, so rerunning a finished
run with more `epochs` continues it; delete `model_dir` to start over).
"""

import dataclasses
import json
import os
import shutil
import tempfile
import uuid

import keras
import numpy as np

from wsol_tf import distribute
from wsol_tf import visualization
from wsol_tf.callbacks import LocalizationMetricsCallback
from wsol_tf.data import build_dataset
from wsol_tf.data import name_undecodable_images
from wsol_tf.data import resolve_dataset
from wsol_tf.evaluation.runner import evaluate_model
from wsol_tf.export import export_saved_model
from wsol_tf.models import build_model

MONITOR = "val_maxboxaccv2"


def write_json(path, obj):
    """Writes `obj` as JSON atomically (temp file in the same dir + rename)."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".tmp-{uuid.uuid4().hex[:8]}.json")
    with open(tmp, "w") as f:
        json.dump(_jsonable(obj), f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
    return path


def _jsonable(value):
    """Builtin types for JSON: str dict keys (e.g. IoU 50 -> "50")."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def step_decay(learning_rate, decay_epochs, decay_factor):
    """Per-epoch step decay: `lr * factor ** (epoch // decay_epochs)`."""

    def schedule(epoch, lr=None):
        del lr
        return float(learning_rate * decay_factor ** (epoch // decay_epochs))

    return schedule


class AtomicModelCheckpoint(keras.callbacks.Callback):
    """Saves `last.keras` every epoch and `best.keras` on improvement.

    Each file is written to a temporary `.keras` path in the same directory
    and renamed over the target, so a kill never leaves a truncated file.
    Put it after the callback that writes `monitor` into the logs.

    Args:
        directory: checkpoint directory.
        monitor: logs key for `best.keras` (higher is better); missing key:
            no best checkpoint.
        chief: False on non-chief workers of a multi-worker job: they save
            too (saving may create variables, which the strategy keeps in
            step across workers) but into a temporary directory that is
            deleted.
    """

    def __init__(self, directory, monitor=MONITOR, chief=True):
        super().__init__()
        self.directory = directory
        self.monitor = monitor
        self.chief = chief
        self.best = -np.inf
        # The best value survives a resume through best.json.
        path = os.path.join(directory, "best.json")
        if os.path.isfile(path):
            with open(path) as f:
                self.best = float(json.load(f)[monitor])

    def _save(self, name):
        directory = self.directory
        if not self.chief:
            directory = tempfile.mkdtemp(prefix="wsol_tf_worker_ckpt_")
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, f".tmp-{uuid.uuid4().hex}.keras")
        try:
            self.model.save(tmp)
            os.replace(tmp, os.path.join(directory, name))
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
            if not self.chief:
                shutil.rmtree(directory, ignore_errors=True)

    def on_epoch_end(self, epoch, logs=None):
        self._save("last.keras")
        value = (logs or {}).get(self.monitor)
        if value is not None and float(value) > self.best:
            self.best = float(value)
            self._save("best.keras")
            if self.chief:
                write_json(
                    os.path.join(self.directory, "best.json"),
                    {self.monitor: self.best, "epoch": epoch},
                )


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` whose files are replaced atomically.

    The weights (with the optimizer state) and the epoch counter are written
    to temporary files and renamed into place, so a kill during the write
    keeps the previous epoch's backup intact.
    """

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        tag = uuid.uuid4().hex[:8]
        tmp_weights = os.path.join(self.backup_dir, f".tmp-{tag}.weights.h5")
        tmp_meta = os.path.join(self.backup_dir, f".tmp-{tag}.json")
        self.model.save_weights(tmp_weights, overwrite=True)
        with open(tmp_meta, "w") as f:
            json.dump(
                {"epoch": self._current_epoch, "batch": self._last_batch_seen},
                f,
            )
        os.replace(tmp_weights, self._weights_path)
        os.replace(tmp_meta, self._training_metadata_path)


class CamImageSummary(keras.callbacks.Callback):
    """Writes CAM overlays of a few validation images to TensorBoard.

    Args:
        batch: an evaluation batch dict ("images", "labels", "boxes").
        log_dir: TensorBoard directory (a `cams` subdirectory is used).
        normalization: `DataConfig.normalization` of the images.
        max_images: how many images to show.
    """

    def __init__(self, batch, log_dir, normalization, max_images=8):
        super().__init__()
        self.images = np.asarray(batch["images"])[:max_images]
        self.labels = np.asarray(batch["labels"])[:max_images]
        self.boxes = np.asarray(batch["boxes"])[:max_images]
        self.log_dir = os.path.join(log_dir, "cams")
        self.normalization = normalization
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        scoremaps = visualization.compute_scoremaps(
            self.model, self.images, self.labels
        )
        rgb = visualization.to_uint8_images(self.images, self.normalization)
        tiles = [
            visualization.draw_boxes(
                visualization.overlay_cam(image, cam),
                box,
                visualization.GT_COLOR,
            )
            for image, cam, box in zip(rgb, scoremaps, self.boxes)
        ]
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            tf.summary.image(
                "val_cams", np.stack(tiles), step=epoch, max_outputs=len(tiles)
            )
        self._writer.flush()


def protocol_settings(data_config, eval_config, split):
    """The evaluation settings a reported number depends on (spec 4)."""
    return {
        "split": split,
        "dataset_name": data_config.dataset_name,
        "metadata_root": data_config.metadata_root,
        "eval_image_size": data_config.eval_image_size,
        "image_resize": "squash to eval_image_size (no centre crop)",
        "cam_class": "ground truth (MaxBoxAcc); top-1 for Top-1 Loc",
        "cam_resize": "cv2.resize INTER_CUBIC to eval_image_size",
        "cam_normalization": "min-max; NaN or constant map -> zeros",
        "cam_curve_interval": eval_config.cam_curve_interval,
        "multi_contour_eval": eval_config.multi_contour_eval,
        "iou_thresholds": list(eval_config.iou_thresholds),
        "loc_threshold": eval_config.loc_threshold,
        "gt_boxes": "rescaled to eval_image_size with int truncation",
    }


def _metric_label(key):
    """Display name of an `evaluate_model` key (e.g. maxboxacc_50)."""
    names = {
        "maxboxaccv2": "MaxBoxAccV2 (mean)",
        "maxboxacc_mean": "MaxBoxAcc (mean, V1)",
        "gt_known_loc": "GT-known Loc",
        "top1_loc": "Top-1 Loc",
        "top1_cls": "Top-1 Cls",
        "pxap": "PxAP",
        "loc_threshold": "Loc CAM threshold",
        "num_images": "images",
    }
    if key in names:
        return names[key]
    if key.startswith("maxboxacc_"):
        return f"MaxBoxAcc IoU {key.rsplit('_', 1)[1]}"
    if key.startswith("best_threshold_"):
        return f"best CAM threshold IoU {key.rsplit('_', 1)[1]}"
    return key


def format_metrics_table(metrics, title):
    """A plain-text table: MaxBoxAcc rows, Loc / Cls / PxAP, thresholds."""

    def rank(key):
        for i, prefix in enumerate(
            (
                "maxboxacc_",
                "maxboxacc",
                "gt_known",
                "top1_loc",
                "top1_cls",
                "pxap",
                "best_threshold",
                "loc_threshold",
                "num_images",
            )
        ):
            if key.startswith(prefix):
                return (i, len(key), key)
        return (len(key), 99, key)

    keys = [
        k
        for k in sorted(metrics, key=rank)
        if isinstance(metrics[k], (int, float, np.floating, np.integer))
    ]
    width = max([len(_metric_label(k)) for k in keys] + [6])
    lines = [title, f"| {'metric':<{width}} | {'value':>8} |"]
    lines.append(f"|{'-' * (width + 2)}|{'-' * 10}|")
    for key in keys:
        value = float(metrics[key])
        text = f"{value:.0f}" if key == "num_images" else f"{value:.2f}"
        if "threshold" in key:
            text = f"{value:.3f}"
        lines.append(f"| {_metric_label(key):<{width}} | {text:>8} |")
    return "\n".join(lines)


def resolve_experiment(config):
    """Resolves the dataset (paths, num_classes) and the model's classes."""
    config.validate()
    data_config = resolve_dataset(config.data)
    return dataclasses.replace(
        config,
        data=data_config,
        model=config.model.replace(num_classes=data_config.num_classes),
    )


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
    cbs = [keras.callbacks.LearningRateScheduler(schedule)]
    if val_ds is not None and train.eval_every_epochs > 0:
        cbs.append(
            LocalizationMetricsCallback(
                val_ds,
                eval_config=config.eval,
                every_n_epochs=train.eval_every_epochs,
                verbose=int(verbose != 0),
            )
        )
    backup = "backup" if chief else f"backup_{task}"
    cbs += [
        AtomicModelCheckpoint(
            os.path.join(model_dir, "checkpoints"), chief=chief
        ),
        AtomicBackupAndRestore(
            os.path.join(model_dir, backup), delete_checkpoint=False
        ),
    ]
    if chief and _has_tensorboard():
        log_dir = os.path.join(model_dir, "logs")
        cbs.append(keras.callbacks.TensorBoard(log_dir, write_graph=False))
        if val_ds is not None:
            batch = next(iter(val_ds))
            cbs.append(
                CamImageSummary(batch, log_dir, config.data.normalization)
            )
    if chief:
        cbs.append(
            keras.callbacks.CSVLogger(
                os.path.join(model_dir, "history.csv"), append=resuming
            )
        )
    return cbs


def _check_same_experiment(model_dir, config):
    """Refuses to resume a backup made by a different model or loss."""
    path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(path):
        return
    with open(path) as f:
        saved = json.load(f)
    current = config.to_dict()
    changed = [
        f"{section}.{key}"
        for section in ("model", "loss")
        for key in current[section]
        if saved.get(section, {}).get(key) != current[section][key]
    ]
    if saved.get("data", {}).get("image_size") != config.data.image_size:
        changed.append("data.image_size")
    if changed:
        raise ValueError(
            f"{model_dir} holds a run with a different configuration "
            f"({', '.join(changed)}), so its backup cannot be resumed: use "
            "another model_dir or delete this one. "
            f"Received: model_dir={model_dir}"
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
    """
    train = config.train
    if not train.model_dir:
        raise ValueError(
            "run_training needs an output directory. Received: model_dir=''"
        )
    # Multi-worker and TPU strategies must exist before other TF ops.
    strategy = distribute.get_strategy(train.strategy, train.tpu_address)
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
    resuming = os.path.exists(
        os.path.join(model_dir, "backup", "training_metadata.json")
    )
    if resuming:
        _check_same_experiment(model_dir, config)
    if chief:
        write_json(os.path.join(model_dir, "config.json"), config.to_dict())
    train_ds = build_dataset(data, data.train_split, training=True)
    steps = train.steps_per_epoch or None
    if steps:
        train_ds = train_ds.repeat()
    val_ds = None
    if train.eval_every_epochs > 0 or train.visualize:
        val_ds = build_dataset(data, data.val_split, training=False)
    with strategy.scope():
        model = build_model(
            config.model, config.loss, image_size=data.image_size
        )
        model.configure_optimization(
            weight_decay=train.weight_decay,
            lr_classifier_ratio=train.lr_classifier_ratio,
        )
        model.compile(
            optimizer=keras.optimizers.SGD(
                learning_rate=train.learning_rate,
                momentum=train.momentum,
                nesterov=train.nesterov,
            )
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


def finish(model, config, write_outputs=True):
    """Test-split metrics (printed, JSON), visualizations and the export.

    The CAM threshold of the drawn and served boxes is the one of
    MaxBoxAcc@50 on the val split (train-fullsup), never chosen on test.
    """
    data, model_dir = config.data, config.train.model_dir
    test_ds = build_dataset(data, data.test_split, training=False)
    details = evaluate_model(model, test_ds, config.eval, return_details=True)
    metrics = details.metrics
    report = {
        "metrics": metrics,
        "protocol": protocol_settings(data, config.eval, data.test_split),
    }
    train = config.train
    if write_outputs and (train.visualize or train.export):
        val_ds = build_dataset(data, data.val_split, training=False)
        evaluator, _ = visualization.accumulate_split(
            model, val_ds, config.eval
        )
        threshold = 0.5
        if evaluator is not None:
            best = evaluator.best_thresholds()
            threshold = best.get(50, next(iter(best.values())))
        report["cam_threshold"] = {
            "value": threshold,
            "source": f"MaxBoxAcc@50 on the {data.val_split} split",
        }
    if write_outputs and train.visualize:
        report["visualizations"] = visualization.visualize_split(
            model,
            test_ds,
            os.path.join(model_dir, "visualizations"),
            normalization=data.normalization,
            eval_config=config.eval,
            threshold=threshold,
            suffix=data.test_split,
            curve=details.box_curve,
        )
    if write_outputs and train.export:
        report["saved_model"] = export_saved_model(
            model,
            os.path.join(model_dir, "saved_model"),
            image_size=data.eval_image_size,
            threshold=threshold,
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
