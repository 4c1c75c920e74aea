"""Session-cached backbone graphs for tests/backbones (building is slow)."""

import functools

import keras
import pytest

from wsol_tf import backbones


@functools.lru_cache(maxsize=None)
def _build_recorded(arch, size, large=False):
    """Our backbone at `size` px and what insert_fn received, in order."""
    calls = []

    def record(position, x):
        calls.append((position, tuple(x.shape[1:])))
        return x

    inputs = keras.Input(shape=(size, size, 3))
    outputs = backbones.build_backbone(
        arch, inputs, insert_fn=record, large_feature_map=large
    )
    return keras.Model(inputs, outputs), tuple(calls)


@functools.lru_cache(maxsize=None)
def _keras_reference(arch):
    """keras.applications model without top, random weights, any size."""
    constructor = {
        "vgg16": keras.applications.VGG16,
        "resnet50": keras.applications.ResNet50,
        "inceptionv3": keras.applications.InceptionV3,
    }[arch]
    return constructor(
        include_top=False, weights=None, input_shape=(None, None, 3)
    )


@pytest.fixture(scope="session")
def build_recorded():
    return _build_recorded


@pytest.fixture(scope="session")
def keras_reference():
    return _keras_reference
