"""ICLAttentionBlock: masks, pooled in-sample features and forward path."""

import keras
import numpy as np
import pytest
from test_case import run_layer_test  # tests/

from wsol_tf.layers import ICLAttentionBlock

MAP = np.array([[0.0, 0.1, 0.3], [0.5, 0.85, 1.0], [0.2, 0.19, 0.9]], "float32")
FG = np.array([[0, 0, 1], [1, 1, 1], [1, 0, 1]], "float32")
DFG = np.array([[0, 0, 1], [1, 0, 0], [1, 0, 0]], "float32")


def _features():
    # Channel 0 = 3 * map, channels 1 + 2 = 0: mean_c == map.
    rng = np.random.default_rng(0)
    x = np.zeros((2, 3, 3, 3), "float32")
    x[..., 0] = 3 * MAP
    x[..., 2] = rng.normal(size=(2, 3, 3))
    x[..., 1] = -x[..., 2]
    return x


def _pool(x, m):
    m = m[None, ..., None]
    return (x * m).sum((1, 2)) / (m.sum((1, 2)) + 1e-6)


def test_hand_built_map_without_non_local():
    x = _features()
    block = ICLAttentionBlock(
        drop_rate=1.0,
        drop_threshold=0.8,
        bg_threshold=0.2,
        use_non_local=False,
    )
    out = block(x, training=True)
    np.testing.assert_allclose(
        out["attention"][..., 0], np.stack([MAP, MAP]), atol=1e-6
    )
    np.testing.assert_allclose(
        out["features"], x * DFG[None, ..., None], atol=1e-6
    )
    np.testing.assert_allclose(out["z_dfg"], _pool(x, DFG), atol=1e-5)
    np.testing.assert_allclose(out["z_fg"], _pool(x, FG), atol=1e-5)
    np.testing.assert_allclose(out["z_bg"], _pool(x, 1 - FG), atol=1e-5)
    np.testing.assert_array_equal(out["valid"], [1.0, 1.0])
    inference = block(x, training=False)
    np.testing.assert_array_equal(inference["features"], x)
    np.testing.assert_allclose(inference["z_dfg"], _pool(x, DFG), atol=1e-5)


def test_use_background_drop_off_forwards_adl_mask():
    x = _features()
    block = ICLAttentionBlock(
        drop_rate=1.0,
        drop_threshold=0.8,
        use_non_local=False,
        forward_mask="drop",
    )
    drop = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]], "float32")
    out = block(x, training=True)
    np.testing.assert_allclose(
        out["features"], x * drop[None, ..., None], atol=1e-6
    )


def test_non_local_starts_as_identity_and_pools_input():
    x = _features()
    block = ICLAttentionBlock(drop_rate=0.0, bg_threshold=0.2)
    out = block(x, training=False)
    np.testing.assert_allclose(out["features"], x, atol=1e-6)
    np.testing.assert_allclose(out["z_fg"], _pool(x, FG), atol=1e-5)
    # Empty background (constant map) -> invalid sample, zero vector.
    flat = np.ones((1, 3, 3, 3), "float32")
    out = block(flat, training=False)
    np.testing.assert_array_equal(out["valid"], [0.0])
    np.testing.assert_array_equal(out["z_bg"], np.zeros((1, 3)))
    names = sorted(w.path.split("/", 1)[1] for w in block.trainable_weights)
    assert "non_local/theta/kernel" in names


def test_layer_contract_and_config(tmp_path):
    kwargs = dict(
        drop_rate=0.5,
        drop_threshold=0.9,
        bg_threshold=0.3,
        use_non_local=True,
        non_local_sub_sample=False,
        inter_channels=2,
        non_local_reduction=4,
        attention_source="non_local",
        mask_mode="soft",
        forward_mask="drop",
        pooled_feature="output",
        epsilon=1e-5,
        seed=1,
    )
    config = ICLAttentionBlock(**kwargs).get_config()
    assert {k: config[k] for k in kwargs} == kwargs
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 6)).astype("float32")
    out = run_layer_test(
        ICLAttentionBlock,
        dict(kwargs, attention_source="output"),
        x,
        call_kwargs={"training": True},
        tmp_path=tmp_path,
    )
    shapes = {k: tuple(v.shape) for k, v in out.items()}
    assert shapes == {
        "features": (2, 4, 4, 6),
        "attention": (2, 4, 4, 1),
        "z_dfg": (2, 6),
        "z_fg": (2, 6),
        "z_bg": (2, 6),
        "valid": (2,),
    }


def test_bad_arguments():
    with pytest.raises(ValueError, match="Received: attention_source=.x."):
        ICLAttentionBlock(attention_source="x")
    with pytest.raises(ValueError, match="Received: pooled_feature=.x."):
        ICLAttentionBlock(pooled_feature="x")
    with pytest.raises(ValueError, match="Received: use_non_local=False"):
        ICLAttentionBlock(attention_source="non_local", use_non_local=False)
    with pytest.raises(ValueError, match="Received: forward_mask=.x."):
        ICLAttentionBlock(forward_mask="x")
    with pytest.raises(ValueError, match="Received: non_local_reduction=0"):
        ICLAttentionBlock(non_local_reduction=0)


def test_non_local_reduction_reaches_the_non_local_block():
    block = ICLAttentionBlock(non_local_reduction=4)
    block(keras.random.uniform((1, 4, 4, 16)), training=False)
    assert block.non_local.reduction == 4
    assert tuple(block.non_local.theta.kernel.shape) == (1, 1, 16, 4)
