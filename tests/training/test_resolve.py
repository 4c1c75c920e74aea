"""The weights decide the input normalisation and the pretrained classifier.

Expected values are derived independently: keras.applications' own
`preprocess_input` for its ImageNet weights, torchvision's published mean /
std for torchvision-layout weights and for random ones (the protocol), and
wsolevaluation's `resnet.load_pretrained_model` rule for the classifier.
"""

import itertools

import keras
import numpy as np
import pytest

from wsol_tf.backbones import weights_file
from wsol_tf.config import DataConfig
from wsol_tf.config import ExperimentConfig
from wsol_tf.config import ModelConfig
from wsol_tf.data.image_ops import normalize_images
from wsol_tf.models import build_model
from wsol_tf.training import resolve_experiment
from wsol_tf.training.resolve import loads_pretrained_classifier
from wsol_tf.training.resolve import resolve_normalization

ARCHITECTURES = ("vgg16", "resnet50", "inceptionv3")
KERAS_PREPROCESS = {
    "vgg16": keras.applications.vgg16.preprocess_input,
    "resnet50": keras.applications.resnet50.preprocess_input,
    "inceptionv3": keras.applications.inception_v3.preprocess_input,
}
TORCHVISION_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
TORCHVISION_STD = np.array([0.229, 0.224, 0.225], np.float32)


def _images():
    return (
        np.random.default_rng(0).uniform(0, 255, (2, 6, 6, 3)).astype("float32")
    )


def expected_input(architecture, weights, layout="keras"):
    """What the weights were trained on, as a function of the raw image."""
    if weights is None or layout == "torchvision":
        return lambda x: (x / 255.0 - TORCHVISION_MEAN) / TORCHVISION_STD
    return lambda x: KERAS_PREPROCESS[architecture](x.copy())


def fed_input(normalization):
    return lambda x: keras.ops.convert_to_numpy(
        normalize_images(x, normalization)
    )


def assert_feeds_what_weights_need(
    normalization, architecture, weights, layout="keras"
):
    images = _images()
    np.testing.assert_allclose(
        fed_input(normalization)(images),
        expected_input(architecture, weights, layout)(images),
        rtol=1e-5,
        atol=1e-4,
    )


def _weights_file(tmp_path, architecture, layout, layers=None):
    """A wsol_tf weights file recording `layout` and its normalisation."""
    path = str(tmp_path / f"{architecture}_{layout}.weights.h5")
    layers = layers or {"conv6": [np.zeros((1, 1, 1, 1), "float32")]}
    normalization = {"torchvision": "imagenet", "keras": "caffe"}[layout]
    weights_file.save_weights_file(
        path,
        layers,
        architecture=architecture,
        layout=layout,
        normalization=normalization,
    )
    return path


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_auto_follows_keras_imagenet_weights(architecture):
    resolved = resolve_normalization("auto", architecture, "imagenet")
    assert_feeds_what_weights_need(resolved, architecture, "imagenet")


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_auto_without_weights_is_the_protocol(architecture):
    resolved = resolve_normalization("auto", architecture, None)
    assert resolved == "imagenet"
    assert_feeds_what_weights_need(resolved, architecture, None)
    # Random weights need no particular input: an explicit choice stands.
    assert resolve_normalization("none", architecture, None) == "none"


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_auto_follows_a_torchvision_weights_file(architecture, tmp_path):
    path = _weights_file(tmp_path, architecture, "torchvision")
    resolved = resolve_normalization("auto", architecture, path)
    assert_feeds_what_weights_need(resolved, architecture, path, "torchvision")
    assert resolve_normalization(resolved, architecture, path) == resolved


def test_contradiction_is_one_line_naming_both_flags(tmp_path):
    with pytest.raises(ValueError) as error:
        resolve_normalization("imagenet", "resnet50", "imagenet")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(
        "--normalization=imagenet contradicts --weights=imagenet for "
        "resnet50: keras.applications weights need 'caffe'"
    )
    path = _weights_file(tmp_path, "vgg16", "torchvision")
    with pytest.raises(
        ValueError, match="torchvision-layout weights need 'imagenet'"
    ):
        resolve_normalization("caffe", "vgg16", path)
    with pytest.raises(ValueError, match="need 'tf'"):
        resolve_normalization("caffe", "inceptionv3", "imagenet")


def test_a_missing_weights_file(tmp_path):
    missing = str(tmp_path / "gone.weights.h5")
    # A finished run's config.json: the recorded value stands.
    assert resolve_normalization("imagenet", "resnet50", missing) == "imagenet"
    with pytest.raises(ValueError, match="does not exist"):
        resolve_normalization("auto", "resnet50", missing)


def test_resolve_experiment_records_the_resolved_normalization(tmp_path):
    # num_classes and paths set: resolve_dataset reads nothing but them.
    (tmp_path / "meta").mkdir()
    base = ExperimentConfig(
        data=DataConfig(
            dataset_name="cub",
            data_root=str(tmp_path),
            metadata_root=str(tmp_path / "meta"),
            num_classes=3,
        ),
        model=ModelConfig(architecture="inceptionv3", weights="imagenet"),
    )
    assert base.data.normalization == "auto"
    config = resolve_experiment(base)
    assert config.data.normalization == "tf"
    assert config.to_dict()["data"]["normalization"] == "tf"
    # Idempotent (tools/train.py and run_training both resolve).
    assert resolve_experiment(config) == config
    wrong = base.replace(data=base.data.replace(normalization="imagenet"))
    with pytest.raises(ValueError, match="contradicts --weights=imagenet"):
        resolve_experiment(wrong)
    # A trained model (tools/evaluate.py): its recorded input stands.
    kept = resolve_experiment(wrong, trained=True)
    assert kept.data.normalization == "imagenet"
    assert resolve_experiment(base, trained=True) == config


def test_unresolved_auto_feeds_the_protocol():
    assert DataConfig().normalization == "auto"
    assert DataConfig().resolved_normalization() == "imagenet"
    assert DataConfig(normalization="caffe").resolved_normalization() == (
        "caffe"
    )


def _reference_keeps_fc(architecture, method, dataset):
    # wsolevaluation: only resnet.load_pretrained_model keeps the checkpoint
    # fc, iff dataset_name == 'ILSVRC' and the method is not acol / spg
    # (vgg.py and inception.py always drop theirs).
    return (
        architecture == "resnet50"
        and dataset == "ilsvrc"
        and method not in ("acol", "spg")
    )


@pytest.mark.parametrize(
    "architecture,method,dataset",
    list(
        itertools.product(
            ARCHITECTURES,
            ("cam", "adl", "icl"),
            ("cub", "ilsvrc", "openimages", "synthetic"),
        )
    ),
)
def test_pretrained_classifier_decision_table(architecture, method, dataset):
    model = ModelConfig(
        architecture=architecture,
        method=method,
        weights="imagenet",
        num_classes=1000,
    )
    expected = _reference_keeps_fc(architecture, method, dataset)
    assert loads_pretrained_classifier(model, dataset) == expected
    # Never without weights, nor for another class count.
    assert not loads_pretrained_classifier(model.replace(weights=None), dataset)
    assert not loads_pretrained_classifier(
        model.replace(num_classes=200), dataset
    )


def test_build_model_loads_the_classifier_only_when_asked(tmp_path):
    config = ModelConfig(
        architecture="resnet50", method="cam", num_classes=1000
    )
    source = build_model(config, image_size=64, seed=1)
    layers = {
        layer.name: layer.get_weights()
        for layer in source.network.layers
        if layer.weights
    }
    path = _weights_file(tmp_path, "resnet50", "keras", layers)
    config = config.replace(weights=path)
    expected_fc = layers["fc"]
    with_fc = build_model(config, image_size=64, seed=2, classifier=True)
    for got, want in zip(
        with_fc.network.get_layer("fc").get_weights(), expected_fc
    ):
        np.testing.assert_array_equal(got, want)
    without = build_model(config, image_size=64, seed=2)
    assert not np.array_equal(
        without.network.get_layer("fc").get_weights()[0], expected_fc[0]
    )
    # The backbone loads either way.
    np.testing.assert_array_equal(
        without.network.get_layer("conv1_conv").get_weights()[0],
        layers["conv1_conv"][0],
    )
    with pytest.raises(ValueError, match="needs pretrained weights"):
        build_model(
            config.replace(weights=None), image_size=64, classifier=True
        )
