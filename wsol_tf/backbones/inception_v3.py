"""InceptionV3 in its WSOL variant (wsolevaluation `InceptionAdl`).

Cut after Mixed_6e and re-strided as in wsolevaluation (sides at 224):

- stem: Conv2d_1a 3x3/2 pad 1, 2a 3x3, 2b 3x3 pad 1, max-pool 3/2 pad 1
  ceil, 3b 1x1, 4a 3x3, max-pool 3/2 pad 1 ceil: 112, 110, 110, 56, 56,
  54, 28;
- Mixed_5b-5d (Keras `mixed0`-`mixed2`): 28x28x288, position `mixed_5d`;
- max-pool 3/2 pad 0 ceil (skipped if `large_feature_map`): 14;
- Mixed_6a (Keras `mixed3`) with stride 1 and padding 1: 14x14x768;
- Mixed_6b-6e (Keras `mixed4`-`mixed7`): 14x14x768, position `mixed_6e`;
- head `SPG_A3_1b`, `SPG_A3_2b`: 3x3 convs, 1024 ch, ReLU, Xavier init,
  zero bias: 14x14x1024, position `A3_2b`. The 1x1 classifier `SPG_A4`
  belongs to the model.

PyTorch's paddings are reproduced exactly: convs use `ZeroPadding2D` +
"valid" (or "same" where identical) and the ceil-mode pools use
`CeilModeMaxPooling2D`, which pads with -inf as PyTorch does.

Conv + BN layers in `layout="keras"` (default) mirror
`keras.applications.InceptionV3` (no conv bias, BN `scale=False`, epsilon
1e-3) so its ImageNet weights load, and the branch average pools exclude
the padding (TF "SAME", like Keras and the original TF-slim weights). Keras
auto-names them (`conv2d_17`, ...), differently in each session, so they
are paired by creation order: ours get stable torchvision-like names
(`Conv2d_1a_3x3_conv`, `Mixed_5b_branch5x5_1_bn`, ...) and are created in
Keras' order. `layout="torchvision"` is wsolevaluation's network for
torchvision's `inception_v3_google` weights: BN with gamma (`scale=True`)
and branch average pools that count the zero padding
(`F.avg_pool2d(x, 3, 1, 1)`). BN momentum is 0.9 (PyTorch's 0.1).

`head_dropout > 0` adds wsolevaluation `InceptionCam`'s three dropouts
(rate 0.5 there, active in training only): on the Mixed_6e output, after
`SPG_A3_1b` and after `SPG_A3_2b` (`InceptionAdl` has none).

Learning-rate groups (wsolevaluation patterns `Mixed`, `Conv2d_1` ...
`Conv2d_4`): stem and Mixed layers get the base rate; `SPG_*` and the
attention layers (top-level modules there) get the classifier rate.
"""

import keras

from wsol_tf.serialization import register

BLOCK_POSITIONS = ("mixed_5d", "mixed_6e", "A3_2b")
FEATURE_CHANNELS = 1024
POSITION_CHANNELS = {"mixed_5d": 288, "mixed_6e": 768, "A3_2b": 1024}
CAM_KIND = "conv"
CLASSIFIER_NAME = "SPG_A4"
ADL_POSITIONS = BLOCK_POSITIONS
INSERT_POINTS = BLOCK_POSITIONS
HEAD_NAMES = ("SPG_A3_1b", "SPG_A3_2b")
REFERENCE_NAME = "InceptionV3"
# Measured (tests/backbones/test_min_image_size.py): 15 px gives a 1x1
# feature map (keras and torchvision layouts); 14 px leaves Mixed_6a /
# the padded pools with an empty map.
MIN_IMAGE_SIZE = 15

_BN_EPSILON = 1e-3
_MOMENTUM = 0.9
# Stem convs: (name, filters, kernel, strides, torch padding).
_STEM_A = (("Conv2d_1a_3x3", 32, 3, 2, 1), ("Conv2d_2a_3x3", 32, 3, 1, 0))
_STEM_B = (("Conv2d_2b_3x3", 64, 3, 1, 1),)
_STEM_C = (("Conv2d_3b_1x1", 80, 1, 1, 0), ("Conv2d_4a_3x3", 192, 3, 1, 0))


def _inception_a(pool_features):
    return (
        ("branch1x1", None, ((64, 1),)),
        ("branch5x5", None, ((48, 1), (64, 5))),
        ("branch3x3dbl", None, ((64, 1), (96, 3), (96, 3))),
        ("branch_pool", "avg", ((pool_features, 1),)),
    )


def _inception_b():
    # Mixed_6a, modified to stride 1 and padding 1 by wsolevaluation.
    return (
        ("branch3x3", None, ((384, 3),)),
        ("branch3x3dbl", None, ((64, 1), (96, 3), (96, 3))),
        ("branch_pool", "max", ()),
    )


def _inception_c(c7):
    return (
        ("branch1x1", None, ((192, 1),)),
        ("branch7x7", None, ((c7, 1), (c7, (1, 7)), (192, (7, 1)))),
        (
            "branch7x7dbl",
            None,
            ((c7, 1), (c7, (7, 1)), (c7, (1, 7)), (c7, (7, 1)), (192, (1, 7))),
        ),
        ("branch_pool", "avg", ((192, 1),)),
    )


_MIXED_5 = (
    ("Mixed_5b", _inception_a(32)),
    ("Mixed_5c", _inception_a(64)),
    ("Mixed_5d", _inception_a(64)),
)
_MIXED_6 = (
    ("Mixed_6a", _inception_b()),
    ("Mixed_6b", _inception_c(128)),
    ("Mixed_6c", _inception_c(160)),
    ("Mixed_6d", _inception_c(160)),
    ("Mixed_6e", _inception_c(192)),
)


def _branch_conv_names(block, branch, convs):
    if len(convs) == 1:
        return [f"{block}_{branch}"]
    return [f"{block}_{branch}_{i}" for i in range(1, len(convs) + 1)]


def _conv_bn_names():
    names = [spec[0] for spec in _STEM_A + _STEM_B + _STEM_C]
    for block, branches in _MIXED_5 + _MIXED_6:
        for branch, _, convs in branches:
            names += _branch_conv_names(block, branch, convs)
    return names


def pretrained_layer_names():
    """Our conv / BN layer names in Keras' creation order (through mixed7)."""
    return tuple(n + s for n in _conv_bn_names() for s in ("_conv", "_bn"))


def torch_pool_output_size(size, pool_size, strides, padding, ceil_mode):
    """PyTorch's max-pool output size (with its ceil_mode rule)."""
    span = size + 2 * padding - pool_size
    out = (span + (strides - 1 if ceil_mode else 0)) // strides + 1
    if ceil_mode and (out - 1) * strides >= size + padding:
        out -= 1
    return out


def feature_map_size(image_size, large_feature_map=False):
    """Side of the final feature map for a square input of `image_size`."""
    size = (image_size - 1) // 2 + 1 - 2  # Conv2d_1a, Conv2d_2a
    size = torch_pool_output_size(size, 3, 2, 1, True) - 2  # pool, 4a
    size = torch_pool_output_size(size, 3, 2, 1, True)
    if not large_feature_map:
        size = torch_pool_output_size(size, 3, 2, 0, True)
    return size


def is_feature_layer(layer_name):
    """True for the stem convs and the Mixed blocks (base LR)."""
    patterns = ("Mixed", "Conv2d_1", "Conv2d_2", "Conv2d_3", "Conv2d_4")
    return any(part.startswith(patterns) for part in layer_name.split("/"))


@register
class CeilModeMaxPooling2D(keras.layers.Layer):
    """Max pooling with PyTorch's symmetric padding and `ceil_mode`.

    Reproduces `torch.nn.functional.max_pool2d(x, pool_size, strides,
    padding, ceil_mode)` on channels-last inputs: the input is padded with
    -inf (`padding` on both sides, plus what `ceil_mode` adds at the end)
    and pooled with "valid" windows. The spatial size must be static.

    Args:
        pool_size: int, square window size.
        strides: int, stride of the window.
        padding: int, implicit -inf padding on each side.
        ceil_mode: bool, PyTorch's rounding of the output size.

    Call arguments:
        inputs: float tensor `[B, H, W, C]`.

    Returns:
        Tensor `[B, H', W', C]`, sizes given by `torch_pool_output_size`.

    Example:
    >>> layer = CeilModeMaxPooling2D(3, 2, padding=1)
    >>> layer(keras.ops.ones((1, 110, 110, 2))).shape
    (1, 56, 56, 2)
    """

    def __init__(
        self, pool_size=3, strides=2, padding=0, ceil_mode=True, **kwargs
    ):
        super().__init__(**kwargs)
        for arg, value, low in (
            ("pool_size", pool_size, 1),
            ("strides", strides, 1),
            ("padding", padding, 0),
        ):
            if not isinstance(value, int) or value < low:
                raise ValueError(
                    f"`{arg}` must be an int >= {low}. Received: {arg}={value}"
                )
        if 2 * padding > pool_size:
            raise ValueError(
                "`padding` must be at most half of `pool_size`. "
                f"Received: padding={padding}"
            )
        self.pool_size = pool_size
        self.strides = strides
        self.padding = padding
        self.ceil_mode = bool(ceil_mode)

    def _out_size(self, size):
        if size is None:
            raise ValueError(
                f"{self.name} needs a static spatial input size. "
                f"Received: size={size}"
            )
        return torch_pool_output_size(
            size, self.pool_size, self.strides, self.padding, self.ceil_mode
        )

    def call(self, inputs):
        pads = [[0, 0]]
        for size in inputs.shape[1:3]:
            end = (self._out_size(size) - 1) * self.strides + self.pool_size
            pads.append(
                [self.padding, max(self.padding, end - size - self.padding)]
            )
        x = keras.ops.pad(
            inputs, pads + [[0, 0]], constant_values=float("-inf")
        )
        return keras.ops.max_pool(
            x, self.pool_size, self.strides, padding="valid"
        )

    def compute_output_shape(self, input_shape):
        h, w = (self._out_size(s) for s in input_shape[1:3])
        return (input_shape[0], h, w, input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "pool_size": self.pool_size,
                "strides": self.strides,
                "padding": self.padding,
                "ceil_mode": self.ceil_mode,
            }
        )
        return config


def _conv_bn(x, name, filters, kernel, strides=1, padding="same", gamma=False):
    if isinstance(padding, int):
        if padding:
            x = keras.layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
        padding = "valid"
    x = keras.layers.Conv2D(
        filters,
        kernel,
        strides=strides,
        padding=padding,
        use_bias=False,
        name=f"{name}_conv",
    )(x)
    x = keras.layers.BatchNormalization(
        axis=-1,
        epsilon=_BN_EPSILON,
        momentum=_MOMENTUM,
        scale=gamma,
        name=f"{name}_bn",
    )(x)
    return keras.layers.Activation("relu", name=name)(x)


def _mixed(x, block, branches, torchvision):
    outputs = []
    for branch, pool, convs in branches:
        y = x
        if pool == "avg" and torchvision:
            # PyTorch's default count_include_pad=True: zero-pad, then
            # average full windows.
            y = keras.layers.ZeroPadding2D(1, name=f"{block}_avg_pad")(y)
            y = keras.layers.AveragePooling2D(
                3, 1, padding="valid", name=f"{block}_avg_pool"
            )(y)
        elif pool == "avg":
            y = keras.layers.AveragePooling2D(
                3, 1, padding="same", name=f"{block}_avg_pool"
            )(y)
        elif pool == "max":
            y = keras.layers.MaxPooling2D(
                3, 1, padding="same", name=f"{block}_max_pool"
            )(y)
        names = _branch_conv_names(block, branch, convs)
        for name, (filters, kernel) in zip(names, convs):
            y = _conv_bn(y, name, filters, kernel, gamma=torchvision)
        outputs.append(y)
    return keras.layers.Concatenate(axis=-1, name=block)(outputs)


def _head_conv(x, name):
    return keras.layers.Conv2D(
        FEATURE_CHANNELS,
        3,
        padding="same",
        activation="relu",
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        name=name,
    )(x)


def _dropout(x, rate, name):
    return keras.layers.Dropout(rate, name=name)(x) if rate else x


def build(
    inputs, insert_fn, large_feature_map=False, layout="keras", head_dropout=0.0
):
    """Builds the InceptionV3 WSOL backbone; returns the A3_2b map."""
    gamma = layout == "torchvision"
    x = inputs
    for name, filters, kernel, strides, padding in _STEM_A + _STEM_B:
        x = _conv_bn(x, name, filters, kernel, strides, padding, gamma)
    x = CeilModeMaxPooling2D(3, 2, padding=1, name="MaxPool_3a_3x3")(x)
    for name, filters, kernel, strides, padding in _STEM_C:
        x = _conv_bn(x, name, filters, kernel, strides, padding, gamma)
    x = CeilModeMaxPooling2D(3, 2, padding=1, name="MaxPool_5a_3x3")(x)
    for block, branches in _MIXED_5:
        x = _mixed(x, block, branches, gamma)
    x = insert_fn("mixed_5d", x)
    if not large_feature_map:
        x = CeilModeMaxPooling2D(3, 2, padding=0, name="MaxPool_6_3x3")(x)
    for block, branches in _MIXED_6:
        x = _mixed(x, block, branches, gamma)
    x = insert_fn("mixed_6e", x)
    x = _dropout(x, head_dropout, "dropout_6e")
    x = _head_conv(x, "SPG_A3_1b")
    x = _dropout(x, head_dropout, "dropout_A3_1b")
    x = _head_conv(x, "SPG_A3_2b")
    x = insert_fn("A3_2b", x)
    return _dropout(x, head_dropout, "dropout_A3_2b")
