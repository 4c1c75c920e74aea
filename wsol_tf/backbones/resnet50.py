"""ResNet50 in its WSOL variant (wsolevaluation `ResNetAdl`).

The layers are those of `keras.applications.ResNet50` (`conv1_conv`,
`conv1_bn`, `conv2_block1_1_conv`, ..., `conv5_block3_out`) with the same
names and weight shapes, so Keras' ImageNet weights load by name. Changes:

- layer4 (Keras `conv5_x`) runs with stride 1 instead of 2, so the map has
  stride 16 (14x14x2048 at 224); with `large_feature_map=True` layer3
  (`conv4_x`) runs with stride 1 too (stride 8, 28x28).
- `layout="keras"` (default, keras.applications weights): ResNet50 v1,
  the Caffe variant. A block's stride sits on its first 1x1 conv
  (`<stage>_block1_1_conv`) and on the 1x1 shortcut conv
  (`<stage>_block1_0_conv`); convs carry biases; BN epsilon 1.001e-5.
- `layout="torchvision"` (torchvision / wsolevaluation weights): ResNet50
  v1.5 as wsolevaluation's `Bottleneck`. The stride sits on the 3x3 conv
  (`<stage>_block1_2_conv`, PyTorch's symmetric padding 1) and on the
  shortcut conv; no conv has a bias; BN epsilon 1e-5. Same layer names.
- BatchNormalization uses momentum 0.9, the equivalent of PyTorch's
  default running-average momentum 0.1 used by wsolevaluation when
  fine-tuning.

Block positions (wsolevaluation `_ADL_POSITION = [[], [], [], [0], [0, 2]]`):
`layer3_0` after `conv4_block1_out` (14x14x1024 at 224), `layer4_0` after
`conv5_block1_out` and `layer4_2` after `conv5_block3_out` (both
14x14x2048). The output of `layer4_2` (after `insert_fn`) is the feature
map.

Learning-rate groups (wsolevaluation patterns `layer4.`, `fc.`, inverted):
`conv5_*`, `fc` and `attention_layer4_*` get the classifier rate; all other
layers, `attention_layer3_0` included, get the base rate.
"""

import keras

from wsol_tf.backbones.layouts import scaled_channels

BLOCK_POSITIONS = ("layer3_0", "layer4_0", "layer4_2")
FEATURE_CHANNELS = 2048
POSITION_CHANNELS = {"layer3_0": 1024, "layer4_0": 2048, "layer4_2": 2048}
CAM_KIND = "channel_mean"
CLASSIFIER_NAME = "fc"
ADL_POSITIONS = BLOCK_POSITIONS
INSERT_POINTS = BLOCK_POSITIONS
HEAD_NAMES = ()
REFERENCE_NAME = "ResNet50"
# Measured (tests/backbones/test_min_image_size.py): every stride-2 layer
# pads, so even a 1x1 input gives a 1x1 feature map.
MIN_IMAGE_SIZE = 1

_EPSILON = {"keras": 1.001e-5, "torchvision": 1e-5}
_MOMENTUM = 0.9
# (stage name, bottleneck filters, number of blocks, wsolevaluation name).
_STAGES = (
    ("conv2", 64, 3, "layer1"),
    ("conv3", 128, 4, "layer2"),
    ("conv4", 256, 6, "layer3"),
    ("conv5", 512, 3, "layer4"),
)


def _stage_strides(large_feature_map):
    return {
        "conv2": 1,
        "conv3": 2,
        "conv4": 1 if large_feature_map else 2,
        "conv5": 1,
    }


def _block_layer_names(name, conv_shortcut):
    names = [f"{name}_0_conv", f"{name}_0_bn"] if conv_shortcut else []
    for i in (1, 2, 3):
        names += [f"{name}_{i}_conv", f"{name}_{i}_bn"]
    return names


def pretrained_layer_names():
    """Names of the layers that receive ImageNet weights, in order."""
    names = ["conv1_conv", "conv1_bn"]
    for stage, _, num_blocks, _ in _STAGES:
        for b in range(1, num_blocks + 1):
            names += _block_layer_names(f"{stage}_block{b}", b == 1)
    return tuple(names)


def feature_map_size(image_size, large_feature_map=False):
    """Side of the final feature map for a square input of `image_size`."""
    size = (image_size - 1) // 2 + 1  # conv1: 7x7 / 2, pad 3
    size = (size - 1) // 2 + 1  # pool1: 3x3 / 2, pad 1
    for stride in _stage_strides(large_feature_map).values():
        size = (size - 1) // stride + 1  # 1x1 conv, "valid"
    return size


def is_feature_layer(layer_name):
    """False for layer4 (`conv5_*`), its attention layers and `fc`."""
    return not any(
        part == CLASSIFIER_NAME
        or part.startswith(("conv5_", "attention_layer4"))
        for part in layer_name.split("/")
    )


def _bn(name, layout):
    return keras.layers.BatchNormalization(
        axis=-1, epsilon=_EPSILON[layout], momentum=_MOMENTUM, name=name
    )


def _conv(x, filters, kernel, stride, layout, name):
    """Keras' v1 conv (bias, "same") or torchvision's (no bias, pad k//2)."""
    torchvision = layout == "torchvision"
    padding = "valid" if kernel == 1 else "same"
    if torchvision and kernel > 1 and stride > 1:
        # PyTorch pads symmetrically; TF "same" would pad 0 / 1 here.
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
        padding = "valid"
    return keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding=padding,
        use_bias=not torchvision,
        name=name,
    )(x)


def _residual_block(x, filters, stride, conv_shortcut, name, layout):
    # v1 strides the first 1x1 conv, v1.5 (torchvision) the 3x3 conv.
    stride_1, stride_2 = (1, stride) if layout == "torchvision" else (stride, 1)
    if conv_shortcut:
        shortcut = _conv(x, 4 * filters, 1, stride, layout, f"{name}_0_conv")
        shortcut = _bn(f"{name}_0_bn", layout)(shortcut)
    else:
        shortcut = x
    x = _conv(x, filters, 1, stride_1, layout, f"{name}_1_conv")
    x = _bn(f"{name}_1_bn", layout)(x)
    x = keras.layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = _conv(x, filters, 3, stride_2, layout, f"{name}_2_conv")
    x = _bn(f"{name}_2_bn", layout)(x)
    x = keras.layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = _conv(x, 4 * filters, 1, 1, layout, f"{name}_3_conv")
    x = _bn(f"{name}_3_bn", layout)(x)
    x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return keras.layers.Activation("relu", name=f"{name}_out")(x)


def build(
    inputs,
    insert_fn,
    large_feature_map=False,
    layout="keras",
    width_multiplier=1.0,
    **_,
):
    """Builds the ResNet50 WSOL backbone; returns the layer4 map.

    `width_multiplier` scales every channel count (the demo backbone).
    """

    def width(channels):
        return scaled_channels(channels, width_multiplier)

    x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = keras.layers.Conv2D(
        width(64), 7, strides=2, use_bias=layout == "keras", name="conv1_conv"
    )(x)
    x = _bn("conv1_bn", layout)(x)
    x = keras.layers.Activation("relu", name="conv1_relu")(x)
    # Zero padding = PyTorch's -inf padding here: the input is >= 0.
    x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    strides = _stage_strides(large_feature_map)
    for stage, filters, num_blocks, torch_name in _STAGES:
        for b in range(1, num_blocks + 1):
            x = _residual_block(
                x,
                width(filters),
                stride=strides[stage] if b == 1 else 1,
                conv_shortcut=b == 1,
                name=f"{stage}_block{b}",
                layout=layout,
            )
            position = f"{torch_name}_{b - 1}"
            if position in BLOCK_POSITIONS:
                x = insert_fn(position, x)
    return x
