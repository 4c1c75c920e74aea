"""Embedded-Gaussian non-local block (Wang et al., CVPR 2018)."""

import keras
from keras import ops

from wsol_tf.config import ModelConfig
from wsol_tf.serialization import register
from wsol_tf.settings import check_setting


def torch_conv_initializer():
    """PyTorch's default conv kernel init (kaiming_uniform, a=sqrt(5))."""
    return keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
    )


def _serialize(initializer):
    if isinstance(initializer, keras.initializers.Initializer):
        return keras.initializers.serialize(initializer)
    return initializer


@register
class NonLocalBlock(keras.layers.Layer):
    """Embedded-Gaussian non-local block with a zero-initialised output.

    For an input `x` of shape `[B, H, W, C]` and `C' = inter_channels`
    (default `C // reduction`, i.e. Wang et al.'s `C / 2`):
    `theta, phi, g = Conv1x1(x)` (C -> C'), optionally 2x2 max-pooled
    `phi` and `g` (`sub_sample`), `f = softmax(theta phi^T)` over the keys
    (computed in float32), `y = f g`, and `z = W(y) + x` where `W` is a
    1x1 conv (C' -> C) followed by a BatchNormalization whose gamma and
    beta start at zero, so that the block starts as the identity and a
    pretrained backbone is unchanged at step 0. This is the reference
    implementation `AlexHex7/Non-local_pytorch` (embedded Gaussian,
    `bn_layer=True`); ICL's exact block is not published (spec 1.3).

    Args:
        inter_channels: int or None. Embedding width C'. `None` means
            `max(C // reduction, 1)`.
        reduction: int >= 1. Channel reduction `r` of the embedding when
            `inter_channels` is None: `C' = max(C // r, 1)`. Default 2,
            the standard block; larger values make the block cheaper.
        sub_sample: bool. Max-pool `phi` and `g` 2x2 (stride 2, floor, as
            `nn.MaxPool2d(2)`); skipped when a spatial side is below 2.
        use_bn: bool. Whether `W` ends with BatchNormalization (zero
            gamma/beta). Without it, `W`'s conv kernel starts at zero.
        return_non_local: bool. If True, `call` returns `(z, W(y))`.
        kernel_initializer: initializer of the theta/phi/g/W convs;
            default is PyTorch's conv default.
        bn_momentum: float. Keras BN momentum (PyTorch 0.1 == Keras 0.9).
        bn_epsilon: float. BN epsilon (PyTorch default 1e-5).
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `[B, H, W, C]`.
        training: bool, BatchNormalization mode.

    Returns:
        `z` with the input's shape, or `(z, W(y))` if `return_non_local`.

    Example:
    >>> block = NonLocalBlock()
    >>> z = block(keras.random.normal((2, 14, 14, 64)))  # == input at init

    Reference:
    - [Wang et al., Non-local Neural Networks, CVPR 2018](
        https://arxiv.org/abs/1711.07971)
    """

    def __init__(
        self,
        inter_channels=None,
        reduction=2,
        sub_sample=True,
        use_bn=True,
        return_non_local=False,
        kernel_initializer=None,
        bn_momentum=0.9,
        bn_epsilon=1e-5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if inter_channels is not None and int(inter_channels) < 1:
            raise ValueError(
                "`inter_channels` must be None or a positive integer. "
                f"Received: inter_channels={inter_channels}"
            )
        self.inter_channels = inter_channels
        self.reduction = int(
            check_setting(
                ModelConfig, "non_local_reduction", reduction, arg="reduction"
            )
        )
        self.sub_sample = bool(sub_sample)
        self.use_bn = bool(use_bn)
        self.return_non_local = bool(return_non_local)
        self.kernel_initializer = kernel_initializer
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                "NonLocalBlock needs a known channel dimension. "
                f"Received: input_shape={input_shape}"
            )
        if self.kernel_initializer is None:
            self._kernel_init = torch_conv_initializer()
        else:
            self._kernel_init = keras.initializers.get(self.kernel_initializer)
        inter = self.inter_channels or max(channels // self.reduction, 1)
        self._inter = int(inter)
        self._pool = self.sub_sample and all(
            d is None or d >= 2 for d in input_shape[1:3]
        )

        def conv(filters, name, init=None):
            return keras.layers.Conv2D(
                filters,
                1,
                kernel_initializer=init or self._kernel_init,
                dtype=self.dtype_policy,
                name=name,
            )

        self.theta = conv(self._inter, "theta")
        self.phi = conv(self._inter, "phi")
        self.g = conv(self._inter, "g")
        w_init = None if self.use_bn else "zeros"
        self.w_conv = conv(channels, "w_conv", w_init)
        for layer in (self.theta, self.phi, self.g):
            layer.build(input_shape)
        inter_shape = tuple(input_shape[:-1]) + (self._inter,)
        self.w_conv.build(inter_shape)
        if self.use_bn:
            self.w_bn = keras.layers.BatchNormalization(
                momentum=self.bn_momentum,
                epsilon=self.bn_epsilon,
                gamma_initializer="zeros",
                beta_initializer="zeros",
                dtype=self.dtype_policy,
                name="w_bn",
            )
            self.w_bn.build(tuple(input_shape))
        if self._pool:
            self.pool = keras.layers.MaxPooling2D(
                2, dtype=self.dtype_policy, name="pool"
            )

    def call(self, inputs, training=None):
        shape = ops.shape(inputs)
        batch, height, width = shape[0], shape[1], shape[2]
        theta = ops.reshape(self.theta(inputs), (batch, -1, self._inter))
        phi = self.phi(inputs)
        g = self.g(inputs)
        if self._pool:
            phi = self.pool(phi)
            g = self.pool(g)
        phi = ops.reshape(phi, (batch, -1, self._inter))
        g = ops.reshape(g, (batch, -1, self._inter))
        logits = ops.matmul(
            ops.cast(theta, "float32"),
            ops.transpose(ops.cast(phi, "float32"), (0, 2, 1)),
        )
        # Explicit stable softmax over the keys (ops.softmax warns when a
        # tiny map is pooled down to a single key).
        logits = logits - ops.max(logits, axis=-1, keepdims=True)
        affinity = ops.exp(logits)
        affinity = affinity / ops.sum(affinity, axis=-1, keepdims=True)
        y = ops.matmul(ops.cast(affinity, g.dtype), g)
        y = ops.reshape(y, (batch, height, width, self._inter))
        w_y = self.w_conv(y)
        if self.use_bn:
            w_y = self.w_bn(w_y, training=training)
        z = inputs + ops.cast(w_y, inputs.dtype)
        if self.return_non_local:
            return z, w_y
        return z

    def compute_output_shape(self, input_shape):
        if self.return_non_local:
            return tuple(input_shape), tuple(input_shape)
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "inter_channels": self.inter_channels,
                "reduction": self.reduction,
                "sub_sample": self.sub_sample,
                "use_bn": self.use_bn,
                "return_non_local": self.return_non_local,
                "kernel_initializer": _serialize(self.kernel_initializer),
                "bn_momentum": self.bn_momentum,
                "bn_epsilon": self.bn_epsilon,
            }
        )
        return config
