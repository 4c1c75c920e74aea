"""LocalizationMetricsCallback writes val_ metrics into the epoch logs."""

import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from wsol_tf import visualization
from wsol_tf.callbacks import LocalizationMetricsCallback
from wsol_tf.config import EvalConfig
from wsol_tf.evaluation import serving_threshold
from wsol_tf.evaluation.box_evaluator import curve_best_thresholds
from wsol_tf.training import loop


def _cam(label):
    """Hand-drawn 10x10 CAMs: a block at a place that depends on the class."""
    m = np.zeros((10, 10), np.float32)
    if label == 0:
        m[1:5, 1:5] = 1.0  # box (1, 1, 5, 5)
    else:
        m[5:9, 5:9] = 1.0  # box (5, 5, 9, 9)
    return m


class FixedCamModel(keras.Model):
    """Tiny trainable model whose compute_cams returns fixed maps."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2)
        self.cams = tf.constant(np.stack([_cam(0), _cam(1)]))

    def call(self, images):
        return self.dense(keras.ops.mean(images, axis=(1, 2)))

    def compute_cams(self, images, class_ids):
        logits = tf.one_hot(class_ids, 2) * 10.0  # always correct
        return logits, tf.gather(self.cams, class_ids)


def _eval_dataset():
    labels = np.array([0, 1, 1, 0], np.int32)
    boxes = np.full((4, 2, 4), -1, np.int32)
    boxes[:, 0] = [[1, 1, 5, 5], [5, 5, 9, 9], [1, 1, 5, 5], [0, 0, 9, 9]]
    data = {
        "images": np.zeros((4, 10, 10, 3), np.float32),
        "labels": labels,
        "boxes": boxes,
        "image_ids": np.array([b"a", b"b", b"c", b"d"]),
    }
    return tf.data.Dataset.from_tensor_slices(data).batch(2)


# Per image, the box is the class block at every threshold (values 0 / 1):
# image 0: IoU 1; image 1: 1; image 2: (5,5,9,9) vs (1,1,5,5) = 1/49;
# image 3: 25/100. MaxBoxAcc: delta 30 / 50 / 70 -> 2/4 -> 50 each.
EXPECTED = {
    "maxboxacc_30": 50.0,
    "maxboxacc_50": 50.0,
    "maxboxacc_70": 50.0,
    "maxboxaccv2": 50.0,
    "gt_known_loc": 50.0,
    "top1_loc": 50.0,
    "top1_cls": 100.0,
    "num_images": 4.0,
}


def test_on_epoch_end_writes_prefixed_floats():
    cb = LocalizationMetricsCallback(
        _eval_dataset(), EvalConfig(cam_curve_interval=0.25), verbose=0
    )
    cb.set_model(FixedCamModel())
    logs = {"loss": 1.0}
    cb.on_epoch_end(0, logs)
    for key, value in EXPECTED.items():
        assert logs["val_" + key] == pytest.approx(value)
        assert isinstance(logs["val_" + key], float)
    assert logs["loss"] == 1.0
    assert cb.history[0]["epoch"] == 0
    assert cb.history[0]["box_curve"]["box_acc"][50].tolist() == [50.0] * 4


def test_every_n_epochs_and_prefix():
    cb = LocalizationMetricsCallback(
        _eval_dataset(),
        EvalConfig(cam_curve_interval=0.5),
        prefix="eval/",
        every_n_epochs=2,
        verbose=1,
    )
    cb.set_model(FixedCamModel())
    logs = {}
    cb.on_epoch_end(0, logs)
    assert logs == {} and cb.history == []
    cb.on_epoch_end(1, logs)
    assert logs["eval/maxboxaccv2"] == pytest.approx(50.0)


def test_fit_feeds_later_callbacks():
    seen = {}

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.update(logs)

    model = FixedCamModel()
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((4, 10, 10, 3), np.float32)
    y = np.zeros((4, 2), np.float32)
    cb = LocalizationMetricsCallback(
        _eval_dataset(), EvalConfig(cam_curve_interval=0.5), verbose=0
    )
    model.fit(x, y, epochs=1, batch_size=2, verbose=0, callbacks=[cb, Spy()])
    assert seen["val_maxboxacc_50"] == pytest.approx(50.0)
    assert "loss" in seen


def test_bad_arguments():
    with pytest.raises(ValueError, match="every_n_epochs"):
        LocalizationMetricsCallback(_eval_dataset(), every_n_epochs=0)
    with pytest.raises(ValueError, match="eval_dataset=None"):
        LocalizationMetricsCallback(None)


class HaloCamModel(FixedCamModel):
    """CAM 0.4 over rows / cols 0..7 with a 1.0 core at 2..4 (any class)."""

    def __init__(self):
        super().__init__()
        m = np.zeros((10, 10), np.float32)
        m[0:8, 0:8] = 0.4
        m[2:5, 2:5] = 1.0
        self.cams = tf.constant(np.stack([m, m]))


def test_finish_reuses_the_callbacks_val_thresholds():
    # GT box (2, 2, 5, 5) = the core's box. S8: halo 102, core 255. At
    # t = 0 and 0.25 (levels 0, 63) the box is the halo's (0, 0, 8, 8):
    # IoU 16 / 81 < 0.3; at t = 0.5 and 0.75 the core's: IoU 1. So the
    # first best threshold is 0.5 at every IoU.
    data = {
        "images": np.zeros((2, 10, 10, 3), np.float32),
        "labels": np.array([0, 1], np.int32),
        "boxes": np.array([[[2, 2, 5, 5]]] * 2, np.int32),
    }
    val_ds = tf.data.Dataset.from_tensor_slices(data).batch(2)
    eval_config = EvalConfig(cam_curve_interval=0.25)
    model = HaloCamModel()
    model.compile(optimizer="sgd", loss="mse")
    cb = LocalizationMetricsCallback(val_ds, eval_config, verbose=0)
    x = np.zeros((2, 10, 10, 3), np.float32)
    y = np.zeros((2, 2), np.float32)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    config = types.SimpleNamespace(
        train=types.SimpleNamespace(eval_every_epochs=1)
    )
    got = loop._last_val_thresholds(model, config)
    assert got == {30: 0.5, 50: 0.5, 70: 0.5}
    # The same as one evaluation of the val split (what finish falls back to).
    curve = visualization.split_box_curve(model, val_ds, eval_config)
    assert curve_best_thresholds(curve) == got
    assert serving_threshold(got) == 0.5
    # The callback did not evaluate the final (2nd) epoch: no reuse.
    config.train.eval_every_epochs = 3
    assert loop._last_val_thresholds(model, config) is None
    # A model that was not trained here has no history to reuse.
    assert loop._last_val_thresholds(HaloCamModel(), config) is None
