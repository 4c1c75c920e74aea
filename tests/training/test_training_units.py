"""Unit tests of wsol_tf.training helpers and wsol_tf/distribute.py."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from wsol_tf import distribute
from wsol_tf import training
from wsol_tf.callbacks import AtomicBackupAndRestore
from wsol_tf.callbacks import AtomicModelCheckpoint
from wsol_tf.io_utils import write_json


def test_step_decay_hand_computed():
    # wsolevaluation: adjust_learning_rate(epoch + 1) before each epoch, so
    # the 15th epoch (0-based 14) already runs at the decayed rate.
    schedule = training.step_decay(0.01, 15, 0.1)
    got = [schedule(e) for e in (0, 13, 14, 28, 29, 43, 44)]
    want = [1e-2, 1e-2, 1e-3, 1e-3, 1e-4, 1e-4, 1e-5]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert training.step_decay(0.1, 3, 0.5)(7) == pytest.approx(0.025)


def test_step_decay_follows_wsolevaluation_adjust_learning_rate():
    import torch

    # The reference loop, on a torch optimizer: `for epoch in
    # range(epochs): adjust_learning_rate(epoch + 1); train(...)`.
    for epochs, frequency in ((50, 15), (6, 3), (3, 1)):
        param = torch.zeros(1, requires_grad=True)
        optimizer = torch.optim.SGD([param], lr=0.01)
        schedule = training.step_decay(0.01, frequency, 0.1)
        for epoch in range(epochs):
            if (epoch + 1) != 0 and (epoch + 1) % frequency == 0:
                for group in optimizer.param_groups:
                    group["lr"] *= 0.1
            want = optimizer.param_groups[0]["lr"]
            assert schedule(epoch) == pytest.approx(want, rel=1e-12), epoch


def test_write_json_is_atomic_and_stringifies_keys(tmp_path):
    path = tmp_path / "sub" / "m.json"
    write_json(str(path), {50: np.float32(1.5), "a": np.arange(2)})
    assert json.loads(path.read_text()) == {"50": 1.5, "a": [0, 1]}
    assert os.listdir(tmp_path / "sub") == ["m.json"]


def _tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_checkpoint_writes_last_and_best_only_on_improvement(tmp_path):
    model = _tiny_model()
    ckpt = AtomicModelCheckpoint(str(tmp_path), monitor="val_m")
    ckpt.set_model(model)
    ckpt.on_epoch_end(0, {"val_m": 5.0})
    best_kernel = model.get_weights()[0].copy()
    model.set_weights([w + 1 for w in model.get_weights()])
    ckpt.on_epoch_end(1, {"val_m": 4.0})  # worse: best.keras unchanged
    assert sorted(os.listdir(tmp_path)) == [
        "best.json",
        "best.keras",
        "last.keras",
    ]
    best = keras.saving.load_model(str(tmp_path / "best.keras"))
    last = keras.saving.load_model(str(tmp_path / "last.keras"))
    np.testing.assert_array_equal(best.get_weights()[0], best_kernel)
    np.testing.assert_array_equal(last.get_weights()[0], best_kernel + 1)
    # A resumed run remembers the best value (5.0) through best.json.
    resumed = AtomicModelCheckpoint(str(tmp_path), monitor="val_m")
    assert resumed.best == 5.0


def test_backup_files_are_replaced_atomically(tmp_path):
    model = _tiny_model()
    model.optimizer.build(model.trainable_variables)
    backup = AtomicBackupAndRestore(str(tmp_path))
    backup.set_model(model)
    backup.on_epoch_end(0)
    backup.on_epoch_end(1)
    assert sorted(os.listdir(tmp_path)) == [
        "latest.weights.h5",
        "training_metadata.json",
    ]
    meta = json.loads((tmp_path / "training_metadata.json").read_text())
    assert meta["epoch"] == 2


@pytest.mark.parametrize(
    "flags, expected",
    [
        ("fpu sse avx2 avx512f", False),
        ("fpu avx2 avx512f avx512_bf16", True),
        ("fpu avx2 amx_tile amx_bf16", True),
        ("fpu avx2 avx512_bf16x", False),  # whole flag names only
    ],
)
def test_cpu_bfloat16_detection_from_flags(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n\n"
    )
    assert distribute.cpu_has_native_bfloat16(str(cpuinfo)) is expected
    assert distribute.cpu_has_native_bfloat16(str(tmp_path / "no")) is False
    assert distribute.cpu_model_name(str(cpuinfo)) == "test"


def test_resolve_precision_and_strategies(monkeypatch):
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    with open("/proc/cpuinfo") as f:
        flags = next(
            (line for line in f if line.startswith("flags")), ""
        ).split()
    cpu = (
        "mixed_bfloat16"
        if {"avx512_bf16", "amx_bf16"} & set(flags)
        else ("float32")
    )
    assert distribute.resolve_precision("auto") == (
        "mixed_float16" if has_gpu else cpu
    )
    assert distribute.resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
    with pytest.raises(ValueError, match="precision='half'"):
        distribute.resolve_precision("half")
    assert distribute.set_precision("mixed_bfloat16") == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    with pytest.raises(ValueError, match="strategy='ring'"):
        distribute.get_strategy("ring")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.get_strategy("multi_worker")
    strategy = distribute.get_strategy("default")
    assert strategy.num_replicas_in_sync == 1
    assert distribute.is_chief(strategy)
    assert distribute.task_name(strategy) == "chief"


def test_format_metrics_table():
    table = training.format_metrics_table(
        {
            "top1_loc": 12.3456,
            "maxboxaccv2": 50.0,
            "maxboxacc_50": 40.0,
            "best_threshold_50": 0.25,
            "note": "x",
        },
        "T",
    )
    lines = table.splitlines()
    assert lines[0] == "T"
    assert lines[3] == "| MaxBoxAcc IoU 50          |    40.00 |"
    assert lines[4] == "| MaxBoxAccV2 (mean)        |    50.00 |"
    assert lines[5] == "| Top-1 Loc                 |    12.35 |"
    assert lines[6] == "| best CAM threshold IoU 50 |    0.250 |"
    assert "note" not in table
