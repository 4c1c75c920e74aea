"""Foreground consistency loss against hand-computed values."""

import numpy as np
import pytest
import tensorflow as tf
from test_case import run_loss_test  # tests/

from wsol_tf.losses import ConsistencyLoss
from wsol_tf.losses import consistency_loss


def _m(rows):
    return np.array(rows, "float32")[None, ..., None]


def test_hand_computed_l1_l2_same_size():
    ref = _m([[0.0, 2.0], [4.0, -1.0]])  # relu / max -> 0, .5, 1, 0
    early = _m([[1.0, 1.0], [-3.0, 2.0]])  # -> .5, .5, 0, 1
    # |diffs| = .5, 0, 1, 1 -> mean .625 ; squares .25, 0, 1, 1 -> .5625
    np.testing.assert_allclose(consistency_loss([early], ref), 0.625)
    np.testing.assert_allclose(
        consistency_loss([early], ref, distance="l2"), 0.5625
    )
    # Two early maps are averaged; a perfect one contributes 0.
    np.testing.assert_allclose(consistency_loss([early, ref], ref), 0.3125)


def test_resize_28_to_14_is_2x2_average():
    rng = np.random.default_rng(0)
    early = rng.uniform(size=(2, 4, 4, 1)).astype("float32")
    ref = rng.uniform(size=(2, 2, 2, 1)).astype("float32")
    e = early / early.max(axis=(1, 2, 3), keepdims=True)
    e = e.reshape(2, 2, 2, 2, 2, 1).mean(axis=(2, 4))  # bilinear, half-pixel
    r = ref / ref.max(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(
        consistency_loss([early], ref), np.abs(e - r).mean(), rtol=1e-5
    )


def test_background_mode():
    ref = _m([[0.1, 1.0], [0.5, 0.15]])  # bg at 0.2 * 1.0: (0,0), (1,1)
    early = _m([[2.0, 4.0], [0.0, 1.0]])  # -> .5, 1, 0, .25
    # mean(early_hat * bg) = (.5 + .25) / 4
    np.testing.assert_allclose(
        consistency_loss([early], ref, mode="background", bg_threshold=0.2),
        0.1875,
    )


def test_stop_gradient_on_reference():
    ref = tf.Variable(_m([[0.0, 2.0], [4.0, 1.0]]))
    early = tf.Variable(_m([[1.0, 3.0], [2.0, 1.0]]))
    with tf.GradientTape() as tape:
        loss = consistency_loss([early], ref)
    g_early, g_ref = tape.gradient(loss, [early, ref])
    assert g_ref is None
    assert np.abs(g_early.numpy()).sum() > 0


def test_loss_class_config_and_errors():
    loss = ConsistencyLoss(distance="l2", mode="full", bg_threshold=0.3)
    ref = _m([[0.0, 2.0], [4.0, -1.0]])
    early = _m([[1.0, 1.0], [-3.0, 2.0]])
    run_loss_test(loss, ref, early, reference=0.5625)
    config = loss.get_config()
    assert (config["distance"], config["mode"], config["bg_threshold"]) == (
        "l2",
        "full",
        0.3,
    )
    with pytest.raises(ValueError, match="Received: distance='l3'"):
        consistency_loss([early], ref, distance="l3")
    with pytest.raises(ValueError, match="Received: mode='x'"):
        ConsistencyLoss(mode="x")
