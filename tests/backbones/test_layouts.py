"""Which input normalisation each kind of weights needs, and which graph.

The expected normalisation is derived independently: keras.applications'
own `preprocess_input` for its ImageNet weights, torchvision's published
mean / std for torchvision-layout weights.
"""

import keras
import numpy as np
import pytest

from wsol_tf import backbones
from wsol_tf.backbones import weights_file
from wsol_tf.data.image_ops import normalize_images

KERAS_PREPROCESS = {
    "vgg16": keras.applications.vgg16.preprocess_input,
    "resnet50": keras.applications.resnet50.preprocess_input,
    "inceptionv3": keras.applications.inception_v3.preprocess_input,
}
ARCHITECTURES = tuple(KERAS_PREPROCESS)


def _images():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, (2, 8, 8, 3)).astype("float32")


def _converted_file(tmp_path, architecture):
    path = str(tmp_path / f"{architecture}.weights.h5")
    weights_file.save_weights_file(
        path,
        {"conv6": [np.zeros((1, 1, 1, 1), "float32")]},
        architecture=architecture,
        layout="torchvision",
        normalization="imagenet",
    )
    return path


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_keras_imagenet_weights_get_keras_preprocessing(architecture):
    mode = backbones.required_normalization(architecture, "imagenet")
    images = _images()
    expected = KERAS_PREPROCESS[architecture](images.copy())
    actual = keras.ops.convert_to_numpy(normalize_images(images, mode))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-4)
    assert backbones.weights_layout("imagenet") == "keras"


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_keras_weights_file_follows_keras(architecture, tmp_path):
    # Any file not in the wsol_tf format is read as keras.applications'.
    path = str(tmp_path / "tiny.weights.h5")
    inputs = keras.Input((4, 4, 3))
    keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs)).save_weights(path)
    assert backbones.weights_layout(path) == "keras"
    expected = backbones.required_normalization(architecture, "imagenet")
    assert backbones.required_normalization(architecture, path) == expected


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_torchvision_weights_get_torchvision_mean_std(architecture, tmp_path):
    images = _images()
    # torchvision.transforms.Normalize with its ImageNet statistics.
    mean = np.array([0.485, 0.456, 0.406], "float32")
    std = np.array([0.229, 0.224, 0.225], "float32")
    expected = (images / 255.0 - mean) / std
    path = _converted_file(tmp_path, architecture)
    assert backbones.weights_layout(path) == "torchvision"
    for mode in (
        backbones.required_normalization(architecture, path),
        backbones.required_normalization(
            architecture, "imagenet", "torchvision"
        ),
    ):
        actual = keras.ops.convert_to_numpy(normalize_images(images, mode))
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


def test_random_weights_need_nothing_and_contradictions_fail(tmp_path):
    assert backbones.required_normalization("vgg16", None) is None
    path = _converted_file(tmp_path, "resnet50")
    with pytest.raises(ValueError, match="torchvision-layout weights"):
        backbones.required_normalization("resnet50", path, layout="keras")
    with pytest.raises(ValueError, match="layout"):
        backbones.required_normalization("resnet50", "imagenet", "caffe")
    with pytest.raises(ValueError, match="architecture"):
        backbones.required_normalization("vgg19", "imagenet")


def test_block_positions_and_head_dropout():
    # wsolevaluation cfg 'adl': [..., 'M', 'A', 512, 512, 512, 'A', 'M', ...]
    assert backbones.block_positions("vgg16", "adl") == (
        "pool3",
        "conv4_3",
        "conv5_3",
    )
    # ICL supplement: after pool3, pool4, conv5_3.
    assert backbones.block_positions("vgg16", "icl") == (
        "pool3",
        "pool4",
        "conv5_3",
    )
    for arch in ("resnet50", "inceptionv3"):
        assert backbones.block_positions(arch, "adl") == (
            backbones.block_positions(arch, "icl")
        )
    assert backbones.head_dropout_rate("inceptionv3", "cam") == 0.5
    assert backbones.head_dropout_rate("inceptionv3", "adl") == 0.0
    assert backbones.head_dropout_rate("resnet50", "cam") == 0.0


def test_vgg16_adl_sits_before_pool4():
    shapes = {}

    def record(position, x):
        shapes[position] = tuple(x.shape[1:])
        return x

    backbones.build_backbone(
        "vgg16",
        keras.Input((64, 64, 3)),
        insert_fn=record,
        positions=backbones.block_positions("vgg16", "adl"),
    )
    # Before pool4: the side of pool3's output (64 / 8), not pool4's.
    assert shapes == {
        "pool3": (8, 8, 256),
        "conv4_3": (8, 8, 512),
        "conv5_3": (4, 4, 512),
    }
    channels = backbones.POSITION_CHANNELS["vgg16"]
    assert {p: channels[p] for p in shapes} == {
        p: s[-1] for p, s in shapes.items()
    }


def test_inception_cam_dropouts_act_in_training_only():
    inputs = keras.Input((75, 75, 3))
    outputs = backbones.build_backbone(
        "inceptionv3", inputs, layout="torchvision", head_dropout=0.5
    )
    model = keras.Model(inputs, outputs)
    dropout = keras.layers.Dropout
    names = [x.name for x in model.layers if isinstance(x, dropout)]
    assert names == ["dropout_6e", "dropout_A3_1b", "dropout_A3_2b"]
    assert all(model.get_layer(n).rate == 0.5 for n in names)
    images = np.random.default_rng(0).normal(size=(1, 75, 75, 3))
    first = model(images, training=False)
    np.testing.assert_array_equal(first, model(images, training=False))
    trained = keras.ops.convert_to_numpy(model(images, training=True))
    assert not np.allclose(trained, first)
    with pytest.raises(ValueError, match="inceptionv3 only"):
        backbones.build_backbone("vgg16", inputs, head_dropout=0.5)


def test_pretrained_classifier_follows_wsolevaluation():
    # resnet.load_pretrained_model: fc kept iff ILSVRC and not acol / spg.
    for arch in ARCHITECTURES:
        for dataset in ("CUB", "ILSVRC", "OpenImages"):
            for method in ("cam", "adl", "icl"):
                expected = arch == "resnet50" and dataset == "ILSVRC"
                assert (
                    backbones.pretrained_classifier(arch, method, dataset)
                    == expected
                )


def test_torchvision_file_into_keras_graph_names_the_layout(tmp_path):
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(
        inputs, backbones.build_backbone("resnet50", inputs, layout="keras")
    )
    torchvision = keras.Model(
        inputs,
        backbones.build_backbone("resnet50", inputs, layout="torchvision"),
    )
    layers = {
        layer.name: layer.get_weights()
        for layer in torchvision.layers
        if layer.weights
    }
    path = str(tmp_path / "resnet50.weights.h5")
    weights_file.save_weights_file(
        path,
        layers,
        architecture="resnet50",
        layout="torchvision",
        normalization="imagenet",
    )
    # v1.5 convs have no bias: the keras (v1) graph cannot take them.
    with pytest.raises(ValueError, match="layout='torchvision'"):
        backbones.load_backbone_weights(
            model, "resnet50", path, input_shape=(32, 32, 3)
        )
    loaded = backbones.load_backbone_weights(
        torchvision, "resnet50", path, input_shape=(32, 32, 3)
    )
    assert loaded == list(backbones.pretrained_layer_names("resnet50"))
