"""Callbacks of a training run: atomic checkpoints, backup, CAM images."""

import json
import os
import shutil
import tempfile
import uuid

import keras
import numpy as np

from wsol_tf import visualization
from wsol_tf.training.reporting import write_json

MONITOR = "val_maxboxaccv2"


def step_decay(learning_rate, decay_epochs, decay_factor):
    """wsolevaluation's step decay as a `LearningRateScheduler` schedule.

    Keras epoch `e` (0-based) trains at
    `learning_rate * decay_factor ** ((e + 1) // decay_epochs)`: the
    reference calls `adjust_learning_rate(e + 1)` before its epoch `e + 1`
    (1-based), which multiplies the rate when `(e + 1) % decay_epochs == 0`.
    With `decay_epochs=15` the first 14 epochs use `learning_rate` and the
    15th already the decayed rate.

    Args:
        learning_rate: float, the rate of the first epoch.
        decay_epochs: int > 0, wsolevaluation's `lr_decay_frequency`.
        decay_factor: float, the multiplier of each decay (0.1 there).

    Returns:
        `schedule(epoch, lr=None) -> float`.

    Example:

    >>> schedule = step_decay(0.01, 15, 0.1)
    >>> [schedule(e) for e in (13, 14)]  # ~[0.01, 0.001]
    """

    def schedule(epoch, lr=None):
        del lr
        steps = (int(epoch) + 1) // decay_epochs
        return float(learning_rate * decay_factor**steps)

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
