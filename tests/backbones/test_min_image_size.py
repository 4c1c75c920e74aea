"""`MIN_IMAGE_SIZE` is the measured smallest input of each backbone.

At the minimum the whole WSOL model (every method, both feature-map
sizes) runs and gives finite logits and a CAM; one pixel less, Keras
itself fails once our check is lifted, so the check refuses nothing that
would work.
"""

import keras
import numpy as np
import pytest

from wsol_tf import backbones
from wsol_tf.config import ModelConfig
from wsol_tf.models import build_model


def _model(architecture, size, method="cam", large_feature_map=False):
    kwargs = {}
    if architecture != "inceptionv3":
        kwargs["width_multiplier"] = 0.125
    return build_model(
        ModelConfig(
            architecture=architecture,
            method=method,
            num_classes=3,
            large_feature_map=large_feature_map,
            **kwargs,
        ),
        image_size=size,
    )


@pytest.mark.parametrize("architecture", ["vgg16", "resnet50", "inceptionv3"])
def test_builds_and_runs_at_the_minimum(architecture):
    size = backbones.MIN_IMAGE_SIZE[architecture]
    for method in ("icl", "cam"):
        model = _model(architecture, size, method)
        images = np.random.default_rng(0).normal(size=(2, size, size, 3))
        logits, cams = model.compute_cams(images.astype(np.float32))
        assert np.isfinite(keras.ops.convert_to_numpy(logits)).all()
        assert tuple(cams.shape) == (2, 1, 1)


@pytest.mark.parametrize("architecture", ["vgg16", "inceptionv3"])
@pytest.mark.parametrize("layout", ["keras", "torchvision"])
def test_one_pixel_less_fails_in_keras_too(architecture, layout, monkeypatch):
    size = backbones.MIN_IMAGE_SIZE[architecture] - 1
    with pytest.raises(ValueError, match=f"at least {size + 1}x{size + 1}"):
        backbones.build_backbone(architecture, keras.Input((size, size, 3)))
    # Without our check, Keras' shape inference either fails or gives an
    # empty feature map (whose eager forward pass kills the process with a
    # SIGFPE in max_pool: not run here).
    monkeypatch.setattr(backbones._module(architecture), "MIN_IMAGE_SIZE", 1)
    try:
        features = backbones.build_backbone(
            architecture, keras.Input((size, size, 3)), layout=layout
        )
    except ValueError:
        return
    assert 0 in tuple(features.shape)[1:3], features.shape


def test_resnet50_takes_any_size():
    # Every stride-2 layer pads: a 1x1 input is the minimum there is.
    assert backbones.MIN_IMAGE_SIZE["resnet50"] == 1
