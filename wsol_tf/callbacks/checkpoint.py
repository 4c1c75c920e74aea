"""Atomic checkpoint and backup callbacks: a kill never truncates a file."""

import json
import os
import shutil
import tempfile

import keras
import numpy as np

from wsol_tf.callbacks.divergence import check_finite_weights
from wsol_tf.errors import CorruptFileError
from wsol_tf.errors import WriteError
from wsol_tf.io_utils import atomic_path
from wsol_tf.io_utils import write_json

MONITOR = "val_maxboxaccv2"


class AtomicModelCheckpoint(keras.callbacks.Callback):
    """Saves `last.keras` every epoch and `best.keras` on improvement.

    Each file is written to a temporary `.keras` path in the same directory
    and renamed over the target, so a kill never leaves a truncated file
    and a failed write (full disk) keeps the previous one. Non-finite
    weights are never written: it raises `DivergenceError` instead. Put it
    after the callback that writes `monitor` into the logs.

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
        check_finite_weights(self.model, f"to write {name}")
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
        if value is None or not np.isfinite(float(value)):
            return
        if float(value) > self.best:
            self.best = float(value)
            self._save("best.keras")
            if self.chief:
                write_json(
                    os.path.join(self.directory, "best.json"),
                    {self.monitor: self.best, "epoch": epoch},
                )


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` whose files are replaced atomically.

    The weights (with the optimizer state and the attention layers' random
    generator states) and the epoch counter are written to temporary files
    and renamed into place, so a kill or a failed write (full disk: a
    one-line `WriteError` naming the file) keeps the previous epoch's
    backup intact. Non-finite weights are never backed up
    (`DivergenceError`). A backup that cannot be read on resume raises
    `CorruptFileError` naming the directory.
    """

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)
            self._restore_seed_generators()
        except (OSError, ValueError, KeyError) as e:
            if isinstance(e, WriteError):
                raise
            reason = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise CorruptFileError(
                f"The backup in {self.backup_dir} cannot be resumed "
                f"({type(e).__name__}: {reason}): delete that directory to "
                "train this model_dir again from epoch 1, or use another "
                "model_dir."
            ) from e

    def _save_model(self):
        check_finite_weights(self.model, "to write the backup")
        with atomic_path(self._weights_path, ".weights.h5") as tmp:
            try:
                self.model.save_weights(tmp, overwrite=True)
            except OSError:
                _close_hdf5_file(tmp)
                raise
        write_json(
            self._training_metadata_path,
            {
                "epoch": self._current_epoch,
                "batch": self._last_batch_seen,
                SEED_STATES: [
                    np.asarray(v).tolist() for v in _seed_states(self.model)
                ],
            },
        )

    def _restore_seed_generators(self):
        """The random streams (e.g. the attention drop masks) go on where
        the backed-up run was: `save_weights` does not store them."""
        path = self._training_metadata_path
        if not os.path.isfile(path):
            return
        with open(path) as f:
            saved = json.load(f).get(SEED_STATES)
        if saved is None:  # a backup written before they were recorded
            return
        states = _seed_states(self.model)
        if len(saved) != len(states):
            raise ValueError(
                f"{path} holds {len(saved)} random generator states, the "
                f"model has {len(states)}"
            )
        for variable, value in zip(states, saved):
            variable.assign(np.asarray(value, dtype=variable.dtype))


SEED_STATES = "seed_generator_states"


def _seed_states(model):
    """The state variables of the model's `keras.random.SeedGenerator`s,
    in a fixed order (they are variables, not weights)."""
    return [
        v for v in model.variables if v.path.endswith("seed_generator_state")
    ]


def _close_hdf5_file(path):
    """Closes the HDF5 file a failed `save_weights` left open.

    Keras' `save_weights_only` closes its h5py file only on success; after
    a write error (e.g. Errno 28, no space left) the file stays open and
    HDF5 retries the flush later (garbage collection, interpreter exit),
    where a full disk has crashed the process. Closing it here, while the
    error is handled, ends that.
    """
    try:
        import h5py
    except ImportError:
        return
    target = os.path.abspath(path)
    for fid in h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE):
        try:
            name = os.path.abspath(os.fsdecode(fid.name))
        except (OSError, ValueError, TypeError):
            continue
        if name == target:
            try:
                h5py.File(fid).close()
            except (OSError, ValueError, RuntimeError):
                pass  # its flush fails again; the file is closed anyway


def load_checkpoint(keras_path, hint="its best.keras"):
    """A `.keras` checkpoint as the tools read it: checked, in float32.

    A damaged archive raises `CorruptFileError` (one line, ending with
    `hint`: what to try instead), non-finite weights `DivergenceError`;
    a model trained under a mixed policy is copied to float32
    (`WSOLModel.as_float32`), as the training run's final report did.
    """
    import wsol_tf.models  # noqa: F401  (registers the custom objects)

    model = _load_keras(keras_path, hint)
    check_finite_weights(model, f"to use {keras_path}")
    # Evaluation, export and visualization run in float32, as the
    # training run's final report did (`WSOLModel.as_float32`).
    if hasattr(model, "as_float32"):
        model = model.as_float32()
    return model


def _load_keras(keras_path, hint):
    """`keras.saving.load_model`, a damaged file as one clear line."""
    import zipfile

    if not zipfile.is_zipfile(keras_path):
        reason = "not a zip archive (truncated or overwritten?)"
    else:
        try:
            return keras.saving.load_model(keras_path, safe_mode=True)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            text = str(e).strip()
            reason = (
                f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"
            )
    raise CorruptFileError(
        f"{keras_path} is not a valid .keras archive: {reason}. Try the "
        f"run's other checkpoint: {hint}."
    )
