"""VGG16 in its WSOL variant (wsolevaluation `VggCam`, used for CAM and ADL).

The thirteen 3x3 convolutions of `keras.applications.VGG16` keep their
names (`block1_conv1` ... `block5_conv3`) and weight shapes, so Keras'
ImageNet weights load by name. Differences from the classifier network:

- `block5_pool` (pool5) is removed;
- `large_feature_map=True` also removes `block4_pool`, giving a map of
  stride 8 (28x28 at 224) instead of 16 (14x14);
- a new head conv `conv6` (3x3, 1024 filters, ReLU, "same" padding) is
  He-initialised like PyTorch's `kaiming_normal_(mode="fan_out")` with zero
  bias, and its output is the feature map the CAM is computed from.

Block positions: `pool3` after `block3_pool` (28x28x256 at 224),
`conv4_3` after `block4_conv3` (28x28x512, before pool4), `pool4` after
`block4_pool` (14x14x512; the same point as `conv4_3` when
`large_feature_map`) and `conv5_3` after `block5_conv3` (14x14x512).
ICL (supplement; ADL TF `--gating_position 3 4 53`) uses `BLOCK_POSITIONS`
= pool3, pool4, conv5_3; wsolevaluation's ADL (cfg `'adl'`, whose numbers
are the published ones) uses `ADL_POSITIONS` = pool3, conv4_3, conv5_3.

The torchvision checkpoint (`vgg16-397923af.pth`) has the same layers, so
both weight layouts build the same graph; only the input normalisation
differs (see `wsol_tf.backbones.layouts`).

Learning-rate groups (wsolevaluation `_FEATURE_PARAM_LAYER_PATTERNS`,
pattern `features.`): the conv stack gets the base rate. The attention
modules sit inside PyTorch's `features` Sequential there, so layers named
`attention_*` also get the base rate. `conv6` and `fc` lie outside it and
get the classifier rate.
"""

import keras

from wsol_tf.backbones.layouts import scaled_channels

BLOCK_POSITIONS = ("pool3", "pool4", "conv5_3")
ADL_POSITIONS = ("pool3", "conv4_3", "conv5_3")
INSERT_POINTS = ("pool3", "conv4_3", "pool4", "conv5_3")
FEATURE_CHANNELS = 1024
POSITION_CHANNELS = {
    "pool3": 256,
    "conv4_3": 512,
    "pool4": 512,
    "conv5_3": 512,
}
HEAD_NAMES = ("conv6",)
CAM_KIND = "channel_mean"
CLASSIFIER_NAME = "fc"
REFERENCE_NAME = "VGG16"
# Measured (tests/backbones/test_min_image_size.py): four 2x2 pools need
# 16 px for a 1x1 conv6 map; 15 px leaves pool4 with an empty map.
MIN_IMAGE_SIZE = 16

# (block index, number of convs, filters) of keras.applications.VGG16.
_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))


def pretrained_layer_names():
    """Names of the layers that receive ImageNet weights, in order."""
    return tuple(
        f"block{b}_conv{i}"
        for b, num_convs, _ in _BLOCKS
        for i in range(1, num_convs + 1)
    )


def feature_map_size(image_size, large_feature_map=False):
    """Side of the final feature map for a square input of `image_size`."""
    size = image_size
    num_pools = 3 if large_feature_map else 4
    for _ in range(num_pools):
        size //= 2
    return size


def is_feature_layer(layer_name):
    """True for the conv stack and the attention layers (base LR)."""
    parts = layer_name.split("/")
    return any(part.startswith(("block", "attention_")) for part in parts)


def he_normal_fan_out():
    """PyTorch `kaiming_normal_(mode="fan_out", nonlinearity="relu")`."""
    return keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="untruncated_normal"
    )


def build(
    inputs,
    insert_fn,
    large_feature_map=False,
    layout="keras",
    width_multiplier=1.0,
    **_,
):
    """Builds the VGG16 WSOL backbone on `inputs`; returns the conv6 map.

    `insert_fn` is called at every point of `INSERT_POINTS`, in order.
    Both layouts build the same graph. `width_multiplier` scales every
    channel count (the demo backbone).
    """
    del layout
    x = inputs
    for block, num_convs, filters in _BLOCKS:
        for i in range(1, num_convs + 1):
            x = keras.layers.Conv2D(
                scaled_channels(filters, width_multiplier),
                3,
                padding="same",
                activation="relu",
                name=f"block{block}_conv{i}",
            )(x)
        if block == 3:
            x = keras.layers.MaxPooling2D(2, 2, name="block3_pool")(x)
            x = insert_fn("pool3", x)
        elif block == 4:
            x = insert_fn("conv4_3", x)
            if not large_feature_map:
                x = keras.layers.MaxPooling2D(2, 2, name="block4_pool")(x)
            x = insert_fn("pool4", x)
        elif block == 5:
            x = insert_fn("conv5_3", x)
        else:
            x = keras.layers.MaxPooling2D(2, 2, name=f"block{block}_pool")(x)
    return keras.layers.Conv2D(
        scaled_channels(FEATURE_CHANNELS, width_multiplier),
        3,
        padding="same",
        activation="relu",
        kernel_initializer=he_normal_fan_out(),
        bias_initializer="zeros",
        name="conv6",
    )(x)
