"""Atomic checkpoint and backup callbacks: a kill never truncates a file."""

import json
import os
import shutil
import tempfile

import keras
import numpy as np

from wsol_tf.io_utils import atomic_path
from wsol_tf.io_utils import write_json

MONITOR = "val_maxboxaccv2"


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
        try:
            with atomic_path(os.path.join(directory, name), ".keras") as tmp:
                self.model.save(tmp)
        finally:
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
        with atomic_path(self._weights_path, ".weights.h5") as tmp:
            self.model.save_weights(tmp, overwrite=True)
        write_json(
            self._training_metadata_path,
            {"epoch": self._current_epoch, "batch": self._last_batch_seen},
        )
