"""Triplet margin loss against numpy / hand-computed values."""

import numpy as np
import pytest
from test_case import run_loss_test  # tests/

from wsol_tf.losses import TripletLoss
from wsol_tf.losses import triplet_loss


def _np_triplet(a, p, n, margin, eps=1e-6):
    d_ap = np.sqrt(((a - p + eps) ** 2).sum(-1))
    d_an = np.sqrt(((a - n + eps) ** 2).sum(-1))
    return np.maximum(d_ap - d_an + margin, 0.0)


def test_hand_computed():
    a = np.array([[0.0, 0.0]], "float32")
    p = np.array([[3.0, 4.0]], "float32")  # d = 5
    n = np.array([[0.0, 1.0]], "float32")  # d = 1
    # max(0, 5 - 1 + 1) = 5 (up to the 1e-6 pairwise-distance eps)
    np.testing.assert_allclose(triplet_loss(a, p, n), 5.0, rtol=1e-5)
    np.testing.assert_allclose(triplet_loss(a, n, p), 0.0, atol=1e-6)


def test_random_matches_numpy_with_valid_and_normalize():
    rng = np.random.default_rng(0)
    a, p, n = (rng.normal(size=(6, 8)).astype("float32") for _ in range(3))
    per = _np_triplet(a, p, n, 1.0)
    np.testing.assert_allclose(triplet_loss(a, p, n), per.mean(), rtol=1e-5)
    valid = np.array([1, 0, 1, 1, 0, 1], "float32")
    np.testing.assert_allclose(
        triplet_loss(a, p, n, valid=valid), per[valid > 0].mean(), rtol=1e-5
    )
    np.testing.assert_allclose(
        triplet_loss(a, p, n, valid=np.zeros(6)), 0.0, atol=0
    )

    def unit(v):
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    per_n = _np_triplet(unit(a), unit(p), unit(n), 0.5)
    np.testing.assert_allclose(
        triplet_loss(a, p, n, margin=0.5, normalize=True),
        per_n.mean(),
        rtol=1e-5,
    )


def test_loss_class_and_config():
    rng = np.random.default_rng(1)
    a, p, n = (rng.normal(size=(4, 3)).astype("float32") for _ in range(3))
    loss = TripletLoss(margin=0.3, normalize=False)
    stacked = np.stack([a, p, n], axis=1)
    run_loss_test(
        loss,
        np.zeros(4, "float32"),
        stacked,
        reference=_np_triplet(a, p, n, 0.3).mean(),
    )
    config = loss.get_config()
    assert (config["margin"], config["normalize"]) == (0.3, False)
    with pytest.raises(ValueError, match="Received: margin=-1"):
        TripletLoss(margin=-1)
