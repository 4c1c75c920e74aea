"""Weight layouts and the input normalisation each set of weights needs.

Two layouts of the same WSOL backbones exist (`build_backbone(...,
layout=...)`):

- `"keras"`: keras.applications' graphs and ImageNet weights (the default
  for `weights="imagenet"`). VGG16 and ResNet50 (v1, Caffe) were trained
  on BGR 0-255 minus the mean pixel (`"caffe"`), InceptionV3 on
  `x / 127.5 - 1` (`"tf"`).
- `"torchvision"`: torchvision's checkpoints and the models wsolevaluation
  trains from them (ResNet50 v1.5, InceptionV3 with BN gammas and padded
  average pools), fed torchvision's mean / std on RGB in [0, 1]
  (`"imagenet"`).

A wsol_tf weights file (`weights_file.py`) records its layout and
normalisation; a keras.applications file or `"imagenet"` is `"keras"`.
"""

from wsol_tf.backbones import weights_file

LAYOUTS = ("keras", "torchvision")
KERAS_NORMALIZATION = {
    "vgg16": "caffe",
    "resnet50": "caffe",
    "inceptionv3": "tf",
}
TORCHVISION_NORMALIZATION = "imagenet"


def scaled_channels(channels, width_multiplier):
    """`channels * width_multiplier` rounded, at least 1 (demo backbone)."""
    return max(1, int(round(channels * width_multiplier)))


def check_layout(layout):
    if layout not in LAYOUTS:
        raise ValueError(
            f"Unknown weights layout. Expected one of {LAYOUTS}. "
            f"Received: layout={layout!r}"
        )
    return layout


def weights_layout(weights):
    """The layout a model must be built with to load `weights`.

    Args:
        weights: None, `"imagenet"` or a path.

    Returns:
        The layout recorded in a wsol_tf weights file; `"keras"` for
        anything else (random init, `"imagenet"`, keras.applications files).
    """
    if weights is not None and weights_file.is_weights_file(weights):
        return check_layout(weights_file.read_metadata(weights)["layout"])
    return "keras"


def required_normalization(architecture, weights, layout=None):
    """The input normalisation `weights` were trained with.

    Args:
        architecture: `"vgg16"`, `"resnet50"` or `"inceptionv3"`.
        weights: None (random initialisation), `"imagenet"` or a path.
        layout: None (the one of `weights`, see `weights_layout`) or an
            explicit layout; it must agree with a wsol_tf weights file.

    Returns:
        `"caffe"`, `"tf"` or `"imagenet"`; None when `weights` is None
        (random weights need no particular input).

    Example:
    >>> required_normalization("resnet50", "imagenet")
    'caffe'
    >>> required_normalization("inceptionv3", "imagenet", "torchvision")
    'imagenet'
    """
    if architecture not in KERAS_NORMALIZATION:
        raise ValueError(
            f"Unknown architecture. Expected one of "
            f"{tuple(KERAS_NORMALIZATION)}. Received: "
            f"architecture={architecture}"
        )
    if weights is None:
        return None
    if weights_file.is_weights_file(weights):
        metadata = weights_file.read_metadata(weights)
        if layout is not None and layout != metadata["layout"]:
            raise ValueError(
                f"{weights} holds {metadata['layout']}-layout weights. "
                f"Received: layout={layout!r}"
            )
        return metadata["normalization"]
    if check_layout(layout or "keras") == "torchvision":
        return TORCHVISION_NORMALIZATION
    return KERAS_NORMALIZATION[architecture]
