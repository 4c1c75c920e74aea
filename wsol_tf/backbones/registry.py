"""The backbone registry: architecture name -> its module."""

from wsol_tf.backbones import inception_v3
from wsol_tf.backbones import resnet50
from wsol_tf.backbones import vgg16

BACKBONES = {"vgg16": vgg16, "resnet50": resnet50, "inceptionv3": inception_v3}


def backbone_module(architecture):
    """The module of `architecture`; ValueError naming the known ones."""
    if architecture not in BACKBONES:
        raise ValueError(
            f"Unknown architecture. Expected one of {tuple(BACKBONES)}. "
            f"Received: architecture={architecture}"
        )
    return BACKBONES[architecture]
