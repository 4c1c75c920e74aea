"""Faults of a training run that must fail loudly and lose nothing:
non-finite weights, a full or read-only disk, orphan temporaries, a second
run in one model_dir, corrupt checkpoints and backups (issue 13)."""

import errno
import json
import os
import socket
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from wsol_tf import io_utils
from wsol_tf.callbacks import AtomicBackupAndRestore
from wsol_tf.callbacks import AtomicModelCheckpoint
from wsol_tf.callbacks import StopOnNonFinite
from wsol_tf.cli import trained
from wsol_tf.errors import CorruptFileError
from wsol_tf.errors import DivergenceError
from wsol_tf.errors import RunDirLockedError
from wsol_tf.errors import WriteError
from wsol_tf.training import run_lock

# Whole training runs or tools in subprocesses.
pytestmark = pytest.mark.integration


def _tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def _poison(model):
    kernel = model.layers[0].kernel
    value = kernel.numpy()
    value[1, 0] = np.nan
    kernel.assign(value)


def _listing(path):
    return sorted(os.listdir(path))


def _bytes(path):
    with open(path, "rb") as f:
        return f.read()


# --- non-finite weights are never written --------------------------------


def test_checkpoint_and_backup_refuse_non_finite_weights(tmp_path):
    model = _tiny_model()
    ckpt = AtomicModelCheckpoint(str(tmp_path / "c"), monitor="m")
    backup = AtomicBackupAndRestore(str(tmp_path / "b"))
    for cb in (ckpt, backup):
        cb.set_model(model)
    ckpt.on_epoch_end(0, {"m": 1.0})
    backup.on_epoch_end(0)
    saved = {p: _bytes(p) for p in _files(tmp_path)}
    _poison(model)
    with pytest.raises(DivergenceError, match="NaN or infinite"):
        ckpt.on_epoch_end(1, {"m": 2.0})
    with pytest.raises(DivergenceError, match="backup"):
        backup.on_epoch_end(1)
    # The good epoch-0 files are untouched, nothing else was written.
    assert {p: _bytes(p) for p in _files(tmp_path)} == saved


def _files(root):
    return sorted(
        os.path.join(d, f) for d, _, names in os.walk(root) for f in names
    )


def test_a_nan_metric_never_becomes_best(tmp_path):
    model = _tiny_model()
    ckpt = AtomicModelCheckpoint(str(tmp_path), monitor="m")
    ckpt.set_model(model)
    ckpt.on_epoch_end(0, {"m": float("nan")})
    assert _listing(tmp_path) == ["last.keras"]


def test_stop_on_non_finite_names_step_term_and_rate():
    model = _tiny_model()
    model.optimizer.learning_rate.assign(1e6)
    cb = StopOnNonFinite()
    cb.set_model(model)
    cb.on_epoch_begin(2)
    cb.on_train_batch_end(0, {"total_loss": 1.0, "cls_loss": 1.0})
    with pytest.raises(DivergenceError) as info:
        cb.on_train_batch_end(
            4, {"total_loss": np.inf, "cls_loss": 0.5, "ce_loss": np.nan}
        )
    message = str(info.value)
    assert "\n" not in message
    assert "epoch 3, step 5" in message
    assert "ce_loss is nan" in message  # the term, not the sum
    assert "total_loss=inf" in message
    assert "learning rate 1e+06" in message
    # Finite losses but a weight poisoned by the last update: epoch end.
    _poison(model)
    with pytest.raises(DivergenceError, match="dense.*kernel"):
        cb.on_epoch_end(2)


# --- full or read-only disk ----------------------------------------------


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_atomic_write_full_disk_is_one_line_and_keeps_the_file(
    tmp_path, monkeypatch
):
    path = tmp_path / "m.json"
    io_utils.write_json(str(path), {"a": 1})
    monkeypatch.setattr(io_utils.json, "dump", _enospc)
    with pytest.raises(WriteError) as info:
        io_utils.write_json(str(path), {"a": 2})
    message = str(info.value)
    assert message == (
        f"Cannot write {path}: [Errno 28] No space left on device; the "
        "previous version is kept."
    )
    assert json.loads(path.read_text()) == {"a": 1}
    assert _listing(tmp_path) == ["m.json"]  # the temporary is gone


def test_backup_write_failure_keeps_the_previous_backup(tmp_path, monkeypatch):
    # ENOSPC raised by the h5py write of a weight (where a full disk failed):
    # a WriteError naming the file, the h5py file closed, no temporary, the
    # previous backup loadable.
    import h5py

    model = _tiny_model()
    backup = AtomicBackupAndRestore(str(tmp_path))
    backup.set_model(model)
    backup.on_epoch_end(0)
    before = {p: _bytes(p) for p in _files(tmp_path)}
    model.layers[0].kernel.assign(model.layers[0].kernel + 1.0)
    monkeypatch.setattr(h5py.Group, "__setitem__", _enospc)
    with pytest.raises(WriteError) as info:
        backup.on_epoch_end(1)
    assert str(info.value).startswith(
        f"Cannot write {tmp_path / 'latest.weights.h5'}: [Errno 28] No space"
    )
    assert {p: _bytes(p) for p in _files(tmp_path)} == before
    assert not h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE)  # none open
    monkeypatch.undo()
    fresh = _tiny_model()
    restore = AtomicBackupAndRestore(str(tmp_path))
    restore.set_model(fresh)
    restore.on_train_begin()
    np.testing.assert_array_equal(
        fresh.layers[0].kernel.numpy(), model.layers[0].kernel.numpy() - 1.0
    )


def test_checkpoint_to_a_read_only_directory(tmp_path, monkeypatch):
    directory = tmp_path / "ckpt"
    directory.mkdir()
    model = _tiny_model()
    ckpt = AtomicModelCheckpoint(str(directory), monitor="m")
    ckpt.set_model(model)
    ckpt.on_epoch_end(0, {})
    before = _bytes(directory / "last.keras")
    os.chmod(directory, 0o555)
    try:
        if os.access(directory, os.W_OK):  # root: chmod does not block
            monkeypatch.setattr(io_utils, "_move_into_place", _erofs)
        with pytest.raises(WriteError, match=r"last\.keras: \[Errno (30|13)"):
            ckpt.on_epoch_end(1, {})
    finally:
        os.chmod(directory, 0o755)
    assert _listing(directory) == ["last.keras"]
    assert _bytes(directory / "last.keras") == before


def _erofs(*args, **kwargs):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS))


# --- orphan temporaries --------------------------------------------------


def test_orphan_temps_are_removed_by_pattern_only(tmp_path):
    keep = ["last.keras", ".tmp-notes", "tmp-last.keras-0123abcd.keras"]
    orphans = [
        ".tmp-last.keras-0123abcd.keras",
        ".tmp-latest.weights.h5-deadbeef.weights.h5",
        ".tmp-best.json-00ff00ff.json",
    ]
    for name in keep + orphans:
        (tmp_path / name).write_text("x")
    removed = io_utils.remove_orphan_temps(str(tmp_path))
    assert sorted(removed) == sorted(str(tmp_path / n) for n in orphans)
    assert _listing(tmp_path) == sorted(keep)
    assert io_utils.remove_orphan_temps(str(tmp_path / "missing")) == []


def test_run_training_removes_orphans_of_checkpoints_and_backup(tmp_path):
    from wsol_tf.training import loop

    for sub in ("checkpoints", "backup", "logs"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / ".tmp-x.keras-0123abcd.keras").write_text("x")
    loop._remove_orphan_temps(str(tmp_path))
    assert _listing(tmp_path / "checkpoints") == []
    assert _listing(tmp_path / "backup") == []
    assert _listing(tmp_path / "logs") == [".tmp-x.keras-0123abcd.keras"]


# --- one run per model_dir -----------------------------------------------

HOLDER = textwrap.dedent(
    """
    import sys, time
    from wsol_tf.training import run_lock
    lock = run_lock.acquire(sys.argv[1])  # held while referenced
    print("locked", flush=True)
    time.sleep(600)
    """
)


def _holder(model_dir):
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(model_dir)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_run_is_refused_and_a_killed_holder_is_stale(tmp_path, capsys):
    holder = _holder(tmp_path)
    try:
        with pytest.raises(RunDirLockedError) as info:
            run_lock.acquire(str(tmp_path))
        message = str(info.value)
        assert "\n" not in message
        host = socket.gethostname()
        assert f"pid {holder.pid} on {host}, started " in message
        assert "use another --model_dir" in message
    finally:
        holder.kill()  # SIGKILL: the OS lock goes, the file stays behind
        holder.wait()
    assert _listing(tmp_path) == [".lock"]
    lock = run_lock.acquire(str(tmp_path))
    out = capsys.readouterr().out
    assert f"Taking over the stale lock of {tmp_path} (pid {holder.pid} " in out
    record = json.loads((tmp_path / ".lock").read_text())
    assert record["pid"] == os.getpid()
    assert record["host"] == socket.gethostname()
    run_lock.release(lock)
    assert _listing(tmp_path) == []


def test_a_second_acquire_in_the_same_process_is_refused(tmp_path):
    lock = run_lock.acquire(str(tmp_path))
    try:
        with pytest.raises(RunDirLockedError, match=f"pid {os.getpid()} on "):
            run_lock.acquire(str(tmp_path))
    finally:
        run_lock.release(lock)
    run_lock.release(run_lock.acquire(str(tmp_path)))  # free again
    assert _listing(tmp_path) == []


def test_a_held_lock_without_a_record_is_refused_in_one_line(tmp_path):
    lock = run_lock.acquire(str(tmp_path))
    try:
        (tmp_path / ".lock").write_text("")  # as if not written yet
        with pytest.raises(RunDirLockedError) as info:
            run_lock.acquire(str(tmp_path))
        assert "\n" not in str(info.value)
        assert "names no holder yet" in str(info.value)
    finally:
        run_lock.release(lock)


def test_an_unlocked_leftover_file_is_taken_without_a_record(tmp_path, capsys):
    # A lock file nobody holds and that names nobody: taken silently.
    (tmp_path / ".lock").write_text("garbage")
    run_lock.release(run_lock.acquire(str(tmp_path)))
    assert "Taking over" not in capsys.readouterr().out


# --- corrupt checkpoints and backups --------------------------------------


def test_corrupt_keras_names_the_problem_and_suggests_best(tmp_path):
    ckpt = tmp_path / "checkpoints"
    AtomicModelCheckpoint(str(ckpt), monitor="m")
    ckpt.mkdir()
    (ckpt / "last.keras").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CorruptFileError) as info:
        trained.load_trained(str(tmp_path), "last")
    message = str(info.value)
    assert "\n" not in message
    assert f"{ckpt / 'last.keras'} is not a valid .keras archive" in message
    assert "--checkpoint=best" in message


def test_non_finite_model_is_refused_by_load_trained(tmp_path):
    model = _tiny_model()
    _poison(model)
    path = tmp_path / "nan.keras"
    model.save(path)
    with pytest.raises(DivergenceError, match="Refusing to use .*nan.keras"):
        trained.load_trained(str(path))


def test_corrupt_backup_names_the_directory(tmp_path):
    model = _tiny_model()
    backup = AtomicBackupAndRestore(str(tmp_path))
    backup.set_model(model)
    backup.on_epoch_end(0)
    weights = tmp_path / "latest.weights.h5"
    weights.write_bytes(_bytes(weights)[:300])
    restore = AtomicBackupAndRestore(str(tmp_path))
    restore.set_model(_tiny_model())
    with pytest.raises(CorruptFileError) as info:
        restore.on_train_begin()
    message = str(info.value)
    assert "\n" not in message
    assert f"The backup in {tmp_path} cannot be resumed" in message
    assert "delete that directory" in message
