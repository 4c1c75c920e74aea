"""ADL and ICL masks on hand-built attention maps."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_case import run_layer_test  # tests/

from wsol_tf.layers import AttentionDropout
from wsol_tf.layers import attention_masks

# Hand-built attention map (max 1.0) and its masks at gamma_bg = 0.2,
# gamma_d = 0.8, written out by hand.
MAP = np.array([[0.0, 0.1, 0.3], [0.5, 0.85, 1.0], [0.2, 0.19, 0.9]], "float32")
FG = np.array([[0, 0, 1], [1, 1, 1], [1, 0, 1]], "float32")
DROP = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]], "float32")
DFG = np.array([[0, 0, 1], [1, 0, 0], [1, 0, 0]], "float32")


def _features(scale=(1.0, 3.0), channels=4):
    # Every channel equals the map, so mean_c(x) == map * scale.
    maps = np.stack([MAP * s for s in scale])[..., None]
    return np.repeat(maps, channels, axis=-1).astype("float32")


def test_masks_hand_built():
    attention = _features(channels=1)
    masks = attention_masks(attention, 0.8, 0.2, "hard")
    for b in range(2):  # the second sample is scaled: same masks
        np.testing.assert_array_equal(masks["fg"][b, ..., 0], FG)
        np.testing.assert_array_equal(masks["bg"][b, ..., 0], 1 - FG)
        np.testing.assert_array_equal(masks["drop"][b, ..., 0], DROP)
        np.testing.assert_array_equal(masks["dfg"][b, ..., 0], DFG)
    soft = attention_masks(attention, 0.8, 0.2, "soft")
    sig = 1 / (1 + np.exp(-attention))
    np.testing.assert_allclose(soft["fg"], sig, rtol=1e-6)
    np.testing.assert_allclose(soft["bg"], 1 - sig, rtol=1e-5)
    np.testing.assert_allclose(
        soft["dfg"], sig * DROP[None, ..., None], rtol=1e-6
    )
    np.testing.assert_array_equal(soft["hard_dfg"][0, ..., 0], DFG)


def test_adl_drop_branch_importance_branch_and_inference():
    x = _features()
    dropped = AttentionDropout(drop_rate=1.0, drop_threshold=0.8)
    out = dropped(x, training=True)
    np.testing.assert_array_equal(out, x * DROP[None, ..., None])
    kept = AttentionDropout(drop_rate=0.0, drop_threshold=0.8)
    out = kept(x, training=True)
    sig = 1 / (1 + np.exp(-x.mean(-1, keepdims=True)))
    np.testing.assert_allclose(out, x * sig, rtol=1e-6)
    np.testing.assert_array_equal(dropped(x, training=False), x)
    np.testing.assert_array_equal(dropped(x), x)


def test_icl_forward_mask_dfg():
    x = _features()
    layer = AttentionDropout(1.0, 0.8, 0.2, forward_mask="dfg")
    out = layer(x, training=True)
    np.testing.assert_array_equal(out, x * DFG[None, ..., None])
    # An external attention map overrides mean_c(x).
    flipped = np.ascontiguousarray(_features(channels=1)[:, ::-1])
    out = layer(x, attention=flipped, training=True)
    np.testing.assert_array_equal(out, x * DFG[::-1][None, ..., None])


def test_one_draw_per_call_for_the_whole_batch():
    x = _features(scale=(1.0, 2.0, 3.0, 4.0))
    layer = AttentionDropout(drop_rate=0.5, drop_threshold=0.8, seed=7)
    all_drop = x * DROP[None, ..., None]
    all_imp = x / (1 + np.exp(-x.mean(-1, keepdims=True)))
    seen = set()
    for _ in range(16):
        out = np.asarray(layer(x, training=True))
        if np.allclose(out, all_drop):
            seen.add("drop")
        else:
            np.testing.assert_allclose(out, all_imp, rtol=1e-6)
            seen.add("importance")
    assert seen == {"drop", "importance"}


def test_gradient_flows_through_importance_map():
    x = tf.constant(_features())
    layer = AttentionDropout(drop_rate=0.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(layer(x, training=True))
    grad = tape.gradient(total, x).numpy()
    xn = x.numpy()
    a = xn.mean(-1, keepdims=True)
    s = 1 / (1 + np.exp(-a))
    expected = s + xn.sum(-1, keepdims=True) * s * (1 - s) / xn.shape[-1]
    np.testing.assert_allclose(
        grad, np.broadcast_to(expected, xn.shape), rtol=1e-5
    )


def test_layer_contract_and_config(tmp_path):
    kwargs = dict(
        drop_rate=0.5,
        drop_threshold=0.9,
        bg_threshold=0.3,
        forward_mask="dfg",
        mask_mode="soft",
        return_masks=True,
        seed=3,
    )
    config = AttentionDropout(**kwargs).get_config()
    assert {k: config[k] for k in kwargs} == kwargs
    out, masks = run_layer_test(
        AttentionDropout, kwargs, _features(), tmp_path=tmp_path
    )
    np.testing.assert_array_equal(out, _features())
    np.testing.assert_allclose(
        masks["attention"][..., 0], np.stack([MAP, 3 * MAP]), rtol=1e-6
    )
    assert masks["dfg"].dtype == "float32"
    run_layer_test(
        AttentionDropout,
        dict(drop_rate=1.0, seed=3),
        _features(),
        call_kwargs={"training": True},
    )


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(drop_rate=1.5), "Received: drop_rate=1.5"),
        (dict(drop_threshold=0.0), "Received: drop_threshold=0.0"),
        (dict(bg_threshold=1.0), "Received: bg_threshold=1.0"),
        (dict(forward_mask="x"), "Received: forward_mask=.x."),
        (dict(mask_mode="x"), "Received: mask_mode=.x."),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AttentionDropout(**kwargs)


def test_mixed_float16_dtypes():
    keras.mixed_precision.set_global_policy("mixed_float16")
    layer = AttentionDropout(
        drop_rate=1.0, drop_threshold=0.8, bg_threshold=0.2, return_masks=True
    )
    out, masks = layer(_features(), training=True)
    assert out.dtype == "float16"
    assert masks["attention"].dtype == "float32"
    np.testing.assert_array_equal(
        out.numpy().astype("float32"),
        _features().astype("float16") * DROP[None, ..., None],
    )
