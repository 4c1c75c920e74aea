"""WSOL backbones (wsolevaluation variants) as functional Keras graphs.

`build_backbone(architecture, inputs, insert_fn=...)` builds VGG16,
ResNet50 or InceptionV3 on a channels-last `keras.Input` and calls
`insert_fn(position, x)` at each of the three block positions of
`positions` (default `BLOCK_POSITIONS[architecture]`, ICL's), in order;
the returned tensor continues the network. This is where the model
inserts its ADL / ICL modules; `block_positions(architecture, method)`
gives each method's positions. Positions and sizes at 224:

- vgg16: pool3 28x28x256, pool4 14x14x512 (ICL) or conv4_3 28x28x512
  (before pool4: wsolevaluation's ADL), conv5_3 14x14x512; feature
  map conv6 14x14x1024; CAM = channel mean of fc-weighted features.
- resnet50: layer3_0 14x14x1024, layer4_0 and layer4_2 14x14x2048;
  feature map layer4 14x14x2048; CAM = channel mean.
- inceptionv3: mixed_5d 28x28x288, mixed_6e 14x14x768, A3_2b
  14x14x1024; feature map A3_2b 14x14x1024; CAM = channel y of SPG_A4.

`large_feature_map=True` doubles the side of the final map (28x28 at 224).
`layout="keras"` (default) builds keras.applications' graphs, whose
ImageNet weights `load_backbone_weights` loads (`"imagenet"`, online, or a
local file); `layout="torchvision"` builds wsolevaluation's graphs for
torchvision-layout weights (ResNet50 v1.5, InceptionV3 with BN gammas and
padded average pools), converted by `tools/convert_weights.py`. The
weights decide: `weights_layout(weights)`, and `required_normalization`
gives the input normalisation they were trained with.
`is_feature_layer` gives the wsolevaluation learning-rate group of a layer.
"""

from wsol_tf.backbones.inception_v3 import CeilModeMaxPooling2D  # noqa: F401
from wsol_tf.backbones.layouts import LAYOUTS  # noqa: F401
from wsol_tf.backbones.layouts import check_layout
from wsol_tf.backbones.layouts import required_normalization  # noqa: F401
from wsol_tf.backbones.layouts import weights_layout  # noqa: F401
from wsol_tf.backbones.registry import BACKBONES
from wsol_tf.backbones.registry import backbone_module as _module
from wsol_tf.backbones.weights import WeightsUnavailableError  # noqa: F401
from wsol_tf.backbones.weights import load_backbone_weights  # noqa: F401
from wsol_tf.backbones.weights import pretrained_classifier  # noqa: F401

# ICL's positions (supplement); ADL_POSITIONS: wsolevaluation's ADL ones.
BLOCK_POSITIONS = {name: m.BLOCK_POSITIONS for name, m in BACKBONES.items()}
ADL_POSITIONS = {name: m.ADL_POSITIONS for name, m in BACKBONES.items()}
# wsolevaluation InceptionCam's dropout rate on its head (training only).
_HEAD_DROPOUT = {("inceptionv3", "cam"): 0.5}
# How the CAM is read: "channel_mean" = mean_c(w_fc[c, y] * F_c) on the
# feature map; "conv" = channel y of the 1x1 classifier conv's output.
CAM_KIND = {name: m.CAM_KIND for name, m in BACKBONES.items()}
FEATURE_CHANNELS = {name: m.FEATURE_CHANNELS for name, m in BACKBONES.items()}
POSITION_CHANNELS = {
    name: dict(m.POSITION_CHANNELS) for name, m in BACKBONES.items()
}
CLASSIFIER_NAMES = {name: m.CLASSIFIER_NAME for name, m in BACKBONES.items()}
MIN_IMAGE_SIZE = {name: m.MIN_IMAGE_SIZE for name, m in BACKBONES.items()}


def _identity(position, x):
    del position
    return x


def block_positions(architecture, method):
    """Where `method` inserts its modules: ADL as wsolevaluation, else ICL's.

    Only VGG16 differs: wsolevaluation's ADL sits before pool4
    (`"conv4_3"`), ICL's block after it (`"pool4"`).
    """
    _module(architecture)
    if method == "adl":
        return ADL_POSITIONS[architecture]
    return BLOCK_POSITIONS[architecture]


# Backbones whose channel counts scale with `width_multiplier`.
WIDTH_SCALABLE = ("vgg16", "resnet50")


def head_dropout_rate(architecture, method):
    """Dropout rate of the backbone head: 0.5 for InceptionV3 CAM, else 0."""
    _module(architecture)
    return _HEAD_DROPOUT.get((architecture, method), 0.0)


def build_backbone(
    architecture,
    inputs,
    *,
    insert_fn=None,
    large_feature_map=False,
    positions=None,
    layout="keras",
    head_dropout=0.0,
    width_multiplier=1.0,
):
    """Builds a WSOL backbone on `inputs` and returns its feature map.

    Args:
        architecture: `"vgg16"`, `"resnet50"` or `"inceptionv3"`.
        inputs: channels-last KerasTensor `[B, H, W, 3]` (a `keras.Input`).
            InceptionV3 needs static H and W.
        insert_fn: optional callable `(position_name, x) -> x`, called once
            at each position of `BLOCK_POSITIONS[architecture]`, in order;
            its return value continues the network. `None`: identity.
        large_feature_map: bool, stride 8 instead of 16 (VGG16 drops pool4,
            ResNet50 runs layer3 with stride 1, InceptionV3 skips the pool
            after Mixed_5d).
        positions: block positions (default: the backbone's ICL ones).
        layout: `"keras"` or `"torchvision"` weight layout.
        head_dropout: dropout rate of the head (InceptionV3 CAM).
        width_multiplier: float in (0, 1], every channel count x this
            (rounded, at least 1; VGG16 and ResNet50 only). Below 1 it is
            the small CPU demo backbone: the same layers, names and block
            positions, no ImageNet weights.

    Returns:
        KerasTensor `[B, h, w, C]`: VGG16 conv6 output (C=1024, after
        ReLU), ResNet50 layer4 output (C=2048), InceptionV3 SPG_A3_2b output
        (C=1024), each after `insert_fn` at the last position for ResNet50
        and InceptionV3.
    """
    module = _module(architecture)
    shape = tuple(inputs.shape)
    if len(shape) != 4:
        raise ValueError(
            "`inputs` must be a 4D channels-last tensor [B, H, W, C]. "
            f"Received: inputs.shape={shape}"
        )
    minimum = module.MIN_IMAGE_SIZE
    for size in shape[1:3]:
        if size is not None and size < minimum:
            raise ValueError(
                f"{architecture} needs inputs of at least {minimum}x"
                f"{minimum} pixels. Received: inputs.shape={shape}"
            )
    if architecture == "inceptionv3" and None in shape[1:3]:
        raise ValueError(
            "inceptionv3 needs a static spatial input size. "
            f"Received: inputs.shape={shape}"
        )
    check_layout(layout)
    if width_multiplier != 1.0 and (
        architecture not in WIDTH_SCALABLE or layout != "keras"
    ):
        raise ValueError(
            "`width_multiplier` below 1 (the demo backbone) is available "
            f"for {WIDTH_SCALABLE} in the keras layout. Received: "
            f"architecture={architecture}, layout={layout}, "
            f"width_multiplier={width_multiplier}"
        )
    if positions is None:
        positions = module.BLOCK_POSITIONS
    positions = tuple(positions)
    points = module.INSERT_POINTS
    if any(p not in points for p in positions) or len(set(positions)) != len(
        positions
    ):
        raise ValueError(
            f"`positions` must be distinct names among {points}. "
            f"Received: positions={positions}"
        )
    if head_dropout and architecture != "inceptionv3":
        raise ValueError(
            "`head_dropout` exists for inceptionv3 only. "
            f"Received: architecture={architecture}, head_dropout="
            f"{head_dropout}"
        )
    if insert_fn is None:
        insert_fn = _identity
    elif not callable(insert_fn):
        raise ValueError(
            f"`insert_fn` must be callable. Received: insert_fn={insert_fn}"
        )

    def checked_insert_fn(position, x):
        if position not in positions:
            return x
        y = insert_fn(position, x)
        if y is None or not hasattr(y, "shape") or len(y.shape) != 4:
            raise ValueError(
                f"`insert_fn` must return a 4D tensor at position "
                f"{position}. Received: {y!r}"
            )
        return y

    extra = {"head_dropout": head_dropout} if head_dropout else {}
    if width_multiplier != 1.0:
        extra["width_multiplier"] = width_multiplier
    return module.build(
        inputs, checked_insert_fn, large_feature_map, layout=layout, **extra
    )


def feature_map_size(architecture, image_size, large_feature_map=False):
    """Side of the final feature map for a square `image_size` input."""
    return _module(architecture).feature_map_size(image_size, large_feature_map)


def head_layer_names(architecture):
    """The new head convs of the backbone (VGG16 conv6, Inception SPG_A3)."""
    return _module(architecture).HEAD_NAMES


def pretrained_layer_names(architecture):
    """Our layer names that receive pretrained weights, in load order."""
    return _module(architecture).pretrained_layer_names()


def is_feature_layer(architecture, layer_name):
    """wsolevaluation learning-rate group of a layer.

    Args:
        architecture: `"vgg16"`, `"resnet50"` or `"inceptionv3"`.
        layer_name: a layer name, or a variable path such as
            `"attention_layer4_0/theta/kernel"`; like wsolevaluation's
            substring rule, a pattern may match any `/`-separated part.

    Returns:
        True: base learning rate (pretrained feature extractor). False:
        learning rate x `lr_classifier_ratio` (new layers). VGG16: `block*`
        and `attention_*` True, `conv6` / `fc` False. ResNet50: `conv5_*`,
        `attention_layer4_*` and `fc` False, the rest True. InceptionV3:
        stem convs and `Mixed_*` True; `SPG_*` and `attention_*` False.
    """
    return _module(architecture).is_feature_layer(layer_name)
