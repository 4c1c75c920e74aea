"""CAMs equal the explicit weighted channel sum (numpy einsum)."""

import keras
import numpy as np
import pytest
from test_case import run_layer_test  # tests/

from wsol_tf.layers import ClassActivationMap
from wsol_tf.layers import class_activation_maps
from wsol_tf.layers import select_class_maps

RNG = np.random.default_rng(0)
F = RNG.normal(size=(2, 3, 4, 5)).astype("float32")
W = RNG.normal(size=(5, 7)).astype("float32")
B = RNG.normal(size=(7,)).astype("float32")


def _loop_cam(f, w, k):
    # wsolevaluation: mean_c(fc.weight[k, c] * F[c]) with explicit loops.
    out = np.zeros(f.shape[:3], "float64")
    for c in range(f.shape[-1]):
        out += w[c, k] * f[..., c]
    return out / f.shape[-1]


def test_channel_mean_all_classes():
    cams = class_activation_maps(F, W)
    assert cams.shape == (2, 3, 4, 7)
    for k in range(7):
        np.testing.assert_allclose(
            cams[..., k], _loop_cam(F, W, k), rtol=1e-5, atol=1e-6
        )


def test_linear_mode_is_the_1x1_conv_output():
    cams = class_activation_maps(F, W.reshape(1, 1, 5, 7), B, mode="linear")
    conv = keras.layers.Conv2D(7, 1)
    conv.build(F.shape)
    conv.set_weights([W.reshape(1, 1, 5, 7), B])
    np.testing.assert_allclose(cams, conv(F), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        cams, np.einsum("bhwc,ck->bhwk", F, W) + B, rtol=1e-5, atol=1e-5
    )


def test_gt_class_and_top_k():
    labels = np.array([3, 6])
    layer = ClassActivationMap()
    maps = layer(F, W, class_ids=labels)
    for b in range(2):
        np.testing.assert_allclose(
            maps[b], _loop_cam(F, W, labels[b])[b], rtol=1e-5, atol=1e-6
        )
    logits = np.array([[0, 5, 1, 2, 0, 0, 4], [9, 0, 0, 0, 0, 8, 0]], "f")
    top = ClassActivationMap(top_k=2)(F, W, logits=logits)
    assert top.shape == (2, 3, 4, 2)
    for b, ks in enumerate([(1, 6), (0, 5)]):
        for j, k in enumerate(ks):
            np.testing.assert_allclose(
                top[b, ..., j], _loop_cam(F, W, k)[b], rtol=1e-5, atol=1e-6
            )
    sel = select_class_maps(class_activation_maps(F, W), labels)
    np.testing.assert_allclose(sel, maps, rtol=1e-6)


def test_layer_contract_config_and_errors(tmp_path):
    layer = ClassActivationMap(mode="linear", top_k=3)
    config = layer.get_config()
    assert (config["mode"], config["top_k"]) == ("linear", 3)
    logits = np.random.default_rng(1).normal(size=(2, 7)).astype("float32")
    maps = run_layer_test(
        ClassActivationMap,
        dict(mode="linear", top_k=3),
        {"features": F, "logits": logits},
        call_kwargs={"kernel": W, "bias": B},
        tmp_path=tmp_path,
    )
    # Per sample: the 1x1 conv output at the 3 highest logits.
    for b in range(2):
        top = np.argsort(-logits[b])[:3]
        full = F[b] @ W + B
        np.testing.assert_allclose(maps[b], full[..., top], rtol=1e-5)
    with pytest.raises(ValueError, match="Received: mode=x"):
        ClassActivationMap(mode="x")
    with pytest.raises(ValueError, match="Received: top_k=0"):
        ClassActivationMap(top_k=0)
    with pytest.raises(ValueError, match="class_ids=None, logits=None"):
        ClassActivationMap()(F, W)
