"""CeilModeMaxPooling2D against a numpy re-derivation of PyTorch pooling."""

import json

import keras
import numpy as np
import pytest

from wsol_tf.backbones import CeilModeMaxPooling2D


def _torch_max_pool(x, k, s, p, out):
    """PyTorch max_pool2d semantics: -inf padding, `out` windows per axis."""
    b, h, w, c = x.shape
    y = np.empty((b, out[0], out[1], c), x.dtype)
    for i in range(out[0]):
        for j in range(out[1]):
            r0, c0 = i * s - p, j * s - p
            rows = slice(max(r0, 0), min(r0 + k, h))
            cols = slice(max(c0, 0), min(c0 + k, w))
            y[:, i, j] = x[:, rows, cols].max(axis=(1, 2))
    return y


# (size, kernel, stride, padding, PyTorch output size for height `size` and
# width `size + 1`, both by hand: out = ceil((n + 2p - k) / s) + 1, minus
# one when the last window would start in the right padding).
CASES = [
    (110, 3, 2, 1, 56, 56),  # stem pool 1 at 224: ceil(109 / 2) + 1
    (54, 3, 2, 1, 28, 28),  # stem pool 2 at 224
    (28, 3, 2, 0, 14, 14),  # pool after Mixed_5d at 224: ceil(25 / 2) + 1
    (27, 3, 2, 0, 13, 14),  # odd height: no extra window
    (4, 3, 3, 1, 2, 2),  # ceil gives 3, but window 3 starts in padding
    (7, 2, 2, 1, 4, 5),  # ceil gives 5 / 5; the height's 5th is dropped
]


@pytest.mark.parametrize("size,k,s,p,out,out_w", CASES)
def test_matches_torch_semantics_on_signed_inputs(size, k, s, p, out, out_w):
    x = np.random.randn(2, size, size + 1, 3).astype("float32")
    layer = CeilModeMaxPooling2D(k, s, padding=p)
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == (2, out, out_w, 3)
    np.testing.assert_array_equal(y, _torch_max_pool(x, k, s, p, (out, out_w)))
    assert np.isfinite(y).all()
    assert layer.compute_output_shape((None, size, size + 1, 3)) == (
        None,
        out,
        out_w,
        3,
    )


def test_symbolic_shape_and_config_round_trip():
    layer = CeilModeMaxPooling2D(3, 2, padding=1, ceil_mode=False, name="p")
    config = layer.get_config()
    assert {k: config[k] for k in ("pool_size", "strides", "padding")} == {
        "pool_size": 3,
        "strides": 2,
        "padding": 1,
    }
    assert config["ceil_mode"] is False
    restored = keras.layers.deserialize(
        json.loads(json.dumps(keras.layers.serialize(layer)))
    )
    assert isinstance(restored, CeilModeMaxPooling2D)
    assert restored.get_config() == config
    # floor mode: (110 + 2 - 3) // 2 + 1 = 55.
    y = restored(keras.Input((110, 110, 4)))
    assert tuple(y.shape) == (None, 55, 55, 4)


def test_bad_arguments():
    with pytest.raises(ValueError, match="Received: strides=0"):
        CeilModeMaxPooling2D(3, 0)
    with pytest.raises(ValueError, match="Received: padding=2"):
        CeilModeMaxPooling2D(3, 2, padding=2)
    with pytest.raises(ValueError, match="static spatial"):
        CeilModeMaxPooling2D(3, 2)(keras.Input((None, None, 2)))


def test_gradient_reaches_only_real_maxima_in_float16():
    import tensorflow as tf

    x = tf.constant(
        np.random.randn(2, 7, 7, 2).astype("float16")
    )  # 7 -> 4 windows per axis, the last one half padding.
    layer = CeilModeMaxPooling2D(3, 2, padding=1, dtype="float16")
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(tf.cast(y, "float32"))
    grad = tape.gradient(loss, x).numpy()
    assert y.dtype == tf.float16 and y.shape == (2, 4, 4, 2)
    assert np.isfinite(grad).all()
    # Each of the 4 x 4 windows routes exactly one unit of gradient.
    np.testing.assert_allclose(grad.sum(axis=(1, 2)), 16.0)
