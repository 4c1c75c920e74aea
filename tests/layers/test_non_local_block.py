"""NonLocalBlock against a numpy re-derivation of the embedded Gaussian."""

import keras
import numpy as np
import pytest
from test_case import run_layer_test  # tests/

from wsol_tf.layers import NonLocalBlock


def _maxpool2(x):
    b, h, w, c = x.shape
    h2, w2 = h // 2, w // 2
    x = x[:, : 2 * h2, : 2 * w2].reshape(b, h2, 2, w2, 2, c)
    return x.max(axis=(2, 4))


def _numpy_non_local(x, weights, sub_sample, eps=1e-5):
    (tk, tb, pk, pb, gk, gb, wk, wb, gamma, beta, mean, var) = weights
    b, h, w, c = x.shape

    def conv(v, k, bias):
        return np.einsum("bhwc,cd->bhwd", v, k[0, 0]) + bias

    theta, phi, g = conv(x, tk, tb), conv(x, pk, pb), conv(x, gk, gb)
    if sub_sample:
        phi, g = _maxpool2(phi), _maxpool2(g)
    inter = theta.shape[-1]
    theta = theta.reshape(b, -1, inter)
    phi = phi.reshape(b, -1, inter)
    g = g.reshape(b, -1, inter)
    f = np.einsum("bic,bjc->bij", theta, phi)
    f = np.exp(f - f.max(-1, keepdims=True))
    f = f / f.sum(-1, keepdims=True)
    y = np.einsum("bij,bjc->bic", f, g).reshape(b, h, w, inter)
    w_y = conv(y, wk, wb)
    w_y = gamma * (w_y - mean) / np.sqrt(var + eps) + beta
    return x + w_y, w_y


def _randomize(block, rng):
    for v in block.weights:
        shape = tuple(v.shape)
        if v.path.endswith("moving_variance"):
            value = rng.uniform(0.5, 2.0, shape)
        else:
            value = rng.normal(0.0, 0.3, shape)
        v.assign(value.astype("float32"))
    by_name = {v.path.split("/", 1)[1]: v.numpy() for v in block.weights}
    order = [
        "theta/kernel",
        "theta/bias",
        "phi/kernel",
        "phi/bias",
        "g/kernel",
        "g/bias",
        "w_conv/kernel",
        "w_conv/bias",
        "w_bn/gamma",
        "w_bn/beta",
        "w_bn/moving_mean",
        "w_bn/moving_variance",
    ]
    return [by_name[k] for k in order]


@pytest.mark.parametrize("sub_sample,size", [(True, 6), (False, 5), (True, 5)])
def test_matches_numpy(sub_sample, size):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, size, size, 8)).astype("float32")
    block = NonLocalBlock(sub_sample=sub_sample, return_non_local=True)
    block.build(x.shape)
    weights = _randomize(block, rng)
    assert weights[0].shape == (1, 1, 8, 4)  # C' = C / 2
    z, w_y = block(x, training=False)
    z_np, w_y_np = _numpy_non_local(x, weights, sub_sample)
    np.testing.assert_allclose(z, z_np, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(w_y, w_y_np, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("sub_sample", [True, False])
def test_reduction_sets_width_and_matches_numpy(sub_sample):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 6, 6, 16)).astype("float32")
    block = NonLocalBlock(
        reduction=4, sub_sample=sub_sample, return_non_local=True
    )
    block.build(x.shape)
    weights = _randomize(block, rng)
    # C' = 16 / 4 for theta, phi and g; W maps C' back to C.
    for kernel in weights[0:6:2]:
        assert kernel.shape == (1, 1, 16, 4)
    assert weights[6].shape == (1, 1, 4, 16)
    z, w_y = block(x, training=False)
    z_np, w_y_np = _numpy_non_local(x, weights, sub_sample)
    np.testing.assert_allclose(z, z_np, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(w_y, w_y_np, rtol=1e-4, atol=1e-4)


def test_reduction_floors_at_one_channel_and_yields_to_inter_channels():
    x = np.zeros((1, 4, 4, 6), "float32")
    block = NonLocalBlock(reduction=16)
    block(x)
    assert tuple(block.theta.kernel.shape) == (1, 1, 6, 1)
    block = NonLocalBlock(inter_channels=5, reduction=4)
    block(x)
    assert tuple(block.theta.kernel.shape) == (1, 1, 6, 5)


def test_identity_at_init_and_zero_bn():
    x = np.random.default_rng(2).normal(size=(2, 4, 4, 6)).astype("float32")
    block = NonLocalBlock(inter_channels=2)
    z = block(x, training=True)
    np.testing.assert_array_equal(z, x)
    bn = block.w_bn
    np.testing.assert_array_equal(bn.gamma.numpy(), np.zeros(6))
    np.testing.assert_array_equal(bn.beta.numpy(), np.zeros(6))
    assert tuple(block.theta.kernel.shape) == (1, 1, 6, 2)


def test_mixed_bfloat16_softmax_float32():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    x = np.random.default_rng(3).normal(size=(2, 4, 4, 8))
    block = NonLocalBlock()
    z = block(x.astype("float32"))
    assert z.dtype == "bfloat16"
    assert block.theta.kernel.dtype == "float32"


def test_config_round_trip(tmp_path):
    kwargs = dict(
        inter_channels=3,
        reduction=4,
        sub_sample=False,
        use_bn=False,
        return_non_local=True,
        kernel_initializer="he_normal",
        bn_momentum=0.99,
        bn_epsilon=1e-3,
    )
    config = NonLocalBlock(**kwargs, name="nl").get_config()
    for key, value in kwargs.items():
        assert config[key] == value
    x = np.random.default_rng(0).normal(size=(2, 3, 3, 4)).astype("float32")
    z, w_y = run_layer_test(
        NonLocalBlock, kwargs, x, call_kwargs={"training": True}
    )
    # Without BN, W's conv kernel starts at zero: identity again.
    np.testing.assert_array_equal(z, x)
    # The standard block (BN, sub-sampling), saved and reloaded.
    z = run_layer_test(NonLocalBlock, {}, x, tmp_path=tmp_path)
    np.testing.assert_allclose(z, x, atol=1e-6)


def test_bad_argument():
    with pytest.raises(ValueError, match="Received: inter_channels=0"):
        NonLocalBlock(inter_channels=0)


@pytest.mark.parametrize("value", [0, -2, 2.5, True])
def test_bad_reduction_names_the_argument(value):
    with pytest.raises(ValueError, match=rf"`reduction`.*reduction={value}"):
        NonLocalBlock(reduction=value)
