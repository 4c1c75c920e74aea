"""NT-Xent against the supplement's Eq. 1 written with np.exp / np.log."""

import keras
import numpy as np
import pytest
from test_case import run_loss_test  # tests/

from wsol_tf.losses import NTXentLoss
from wsol_tf.losses import nt_xent


def _cos(x, y):
    return (x * y).sum(-1) / (
        np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1)
    )


def _eq1(a, p, n, tau):
    # ICL supplementary Eq. 1, literally.
    num = np.exp(_cos(a, p) / tau)
    return -np.log(num / (num + np.exp(_cos(a, n) / tau)))


def test_matches_supplement_eq1():
    rng = np.random.default_rng(0)
    a, p, n = (rng.normal(size=(5, 16)) for _ in range(3))
    loss, logits, labels = nt_xent(
        a.astype("float32"),
        p.astype("float32"),
        n.astype("float32"),
        temperature=0.07,
        return_logits=True,
    )
    np.testing.assert_allclose(loss, _eq1(a, p, n, 0.07).mean(), rtol=1e-5)
    np.testing.assert_allclose(
        logits, np.stack([_cos(a, p), _cos(a, n)], -1) / 0.07, rtol=1e-5
    )
    np.testing.assert_array_equal(labels, np.zeros(5))
    # Same as softmax cross-entropy of the logits against label 0.
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    np.testing.assert_allclose(ce(labels, logits), loss, rtol=1e-5)


def test_hand_computed_and_valid_and_stability():
    a = np.array([[1.0, 0.0], [1.0, 0.0]], "float32")
    p = np.array([[2.0, 0.0], [0.0, 1.0]], "float32")  # cos 1, 0
    n = np.array([[0.0, 3.0], [-1.0, 0.0]], "float32")  # cos 0, -1
    per = np.log1p(np.exp(np.array([-1.0, -1.0]) / 0.5))
    np.testing.assert_allclose(nt_xent(a, p, n, 0.5), per.mean(), rtol=1e-6)
    np.testing.assert_allclose(
        nt_xent(a, p, n, 0.5, valid=np.array([0.0, 1.0])),
        per[1],
        rtol=1e-6,
    )
    # Opposite anchors at a tiny temperature: softplus form stays finite.
    value = nt_xent(a, n, p, temperature=1e-4)
    assert np.isfinite(value) and value > 1e3


def test_loss_class_and_config():
    rng = np.random.default_rng(1)
    a, p, n = (rng.normal(size=(3, 4)).astype("float32") for _ in range(3))
    loss = NTXentLoss(temperature=0.2)
    run_loss_test(
        loss,
        np.zeros(3, "float32"),
        np.stack([a, p, n], 1),
        reference=_eq1(a, p, n, 0.2).mean(),
    )
    assert loss.get_config()["temperature"] == 0.2
    with pytest.raises(ValueError, match="Received: temperature=0"):
        NTXentLoss(temperature=0)
