"""MaskedAveragePooling against numpy, including the empty-mask guard."""

import keras
import numpy as np
import pytest
from test_case import run_layer_test  # tests/

from wsol_tf.layers import MaskedAveragePooling


def test_matches_numpy_and_empty_mask_guard():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(3, 4, 5, 6)).astype("float32")
    m = (rng.uniform(size=(3, 4, 5)) > 0.5).astype("float32")
    m[2] = 0.0  # empty mask
    z, valid = MaskedAveragePooling()(f, m)
    expected = np.einsum("bhwc,bhw->bc", f, m) / (m.sum((1, 2))[:, None] + 1e-6)
    np.testing.assert_allclose(z, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(z[2], np.zeros(6))
    np.testing.assert_array_equal(valid, [1.0, 1.0, 0.0])


def test_layer_contract(tmp_path):
    rng = np.random.default_rng(1)
    f = rng.normal(size=(2, 3, 3, 4)).astype("float32")
    m = rng.uniform(size=(2, 3, 3)).astype("float32")
    z, valid = run_layer_test(
        MaskedAveragePooling,
        dict(epsilon=1e-4),
        {"features": f, "mask": m},
        tmp_path=tmp_path,
    )
    expected = np.einsum("bhwc,bhw->bc", f, m) / (m.sum((1, 2))[:, None] + 1e-4)
    np.testing.assert_allclose(z, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(valid, [1.0, 1.0])


def test_hand_computed_soft_mask_and_channel_axis():
    f = np.arange(4, dtype="float32").reshape(1, 2, 2, 1)  # 0 1 / 2 3
    m = np.array([[[0.5], [0.0]], [[1.0], [0.5]]], "float32")[None]
    z, valid = MaskedAveragePooling(epsilon=1e-3)(f, m)
    # (0*.5 + 2*1 + 3*.5) / (2 + 1e-3)
    np.testing.assert_allclose(z, [[3.5 / 2.001]], rtol=1e-6)
    np.testing.assert_array_equal(valid, [1.0])


def test_float32_under_mixed_precision_and_config():
    keras.mixed_precision.set_global_policy("mixed_float16")
    layer = MaskedAveragePooling(epsilon=1e-4)
    f = np.full((2, 3, 3, 4), 100.0, "float32")
    z, valid = layer(f, np.ones((2, 3, 3), "float32"))
    assert z.dtype == "float32"
    np.testing.assert_allclose(z, np.full((2, 4), 900 / 9.0001), rtol=1e-6)
    assert layer.get_config()["epsilon"] == 1e-4
    with pytest.raises(ValueError, match="Received: epsilon=0"):
        MaskedAveragePooling(epsilon=0)
