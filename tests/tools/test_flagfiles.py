"""Every flags/*.flags parses with tools/train.py's flags, and is correct."""

import copy
import glob
import importlib
import itertools
import os

import keras
import numpy as np
import pytest
from absl import flags

from wsol_tf import backbones
from wsol_tf import config as config_lib
from wsol_tf.cli import config_flags
from wsol_tf.cli import flagfiles
from wsol_tf.data.image_ops import normalize_images
from wsol_tf.training import pretrain
from wsol_tf.training.resolve import resolve_normalization

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
DATASETS = ("cub", "ilsvrc", "openimages", "synthetic")
ARCHS = ("vgg16", "inceptionv3", "resnet50")
METHODS = ("cam", "adl", "icl")
# (epochs, lr_decay_epochs): wsolevaluation's schedules.
SCHEDULE = {"cub": (50, 15), "ilsvrc": (10, 3), "openimages": (10, 3)}
# Published test numbers the headers must quote (spec method.md 6.1, 6.2).
PUBLISHED = {
    "cub_resnet50_icl": ["63.20", "63.43"],
    "cub_resnet50_adl": ["58.34"],
    "cub_vgg16_cam": ["63.7"],
    "cub_inceptionv3_cam": ["56.7"],
    "cub_resnet50_cam": ["63.0"],
    "ilsvrc_vgg16_cam": ["60.0"],
    "ilsvrc_inceptionv3_cam": ["63.4"],
    "ilsvrc_resnet50_cam": ["63.7"],
    "openimages_vgg16_cam": ["58.3"],
    "openimages_inceptionv3_cam": ["63.2"],
    "openimages_resnet50_cam": ["58.5"],
}
# Hyper-parameters wsolevaluation publishes for a cell (its README's example
# command: --batch_size 32 --epochs 10 --lr 0.00227913316
# --lr_decay_frequency 3 --weight_decay 5.00E-04); every other cell keeps
# the protocol defaults.
WSOLEVALUATION_VALUES = {
    "openimages_vgg16_cam": {
        "batch_size": 32,
        "epochs": 10,
        "learning_rate": 0.00227913316,
        "lr_decay_epochs": 3,
        "weight_decay": 5e-4,
    },
}
# The input keras.applications' ImageNet weights were trained on, from its
# documented preprocessing (`<module>.preprocess_input`): "caffe" for VGG16
# and ResNet50, "tf" for InceptionV3. Random weights: the protocol's
# torchvision mean / std on RGB in [0, 1].
KERAS_PREPROCESS = {
    "vgg16": keras.applications.vgg16.preprocess_input,
    "resnet50": keras.applications.resnet50.preprocess_input,
    "inceptionv3": keras.applications.inception_v3.preprocess_input,
}


def _protocol_input(x):
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    return (x / 255.0 - mean) / std


TRAIN = importlib.import_module("wsol_tf.cli.train")


def _config(argv, preset=None):
    fv = copy.deepcopy(flags.FLAGS)
    flagfiles.parse_flags(["train.py"] + argv, fv, preset=preset)
    return config_flags.config_from_flags(fv)


def _flagfiles():
    pattern = os.path.join(REPO, "flags", "**", "*.flags")
    return sorted(glob.glob(pattern, recursive=True))


def _settings(path):
    """{flag: value} of the lines of one file (not its includes)."""
    with open(path) as f:
        lines = [line.strip() for line in f]
    pairs = [line[2:].split("=", 1) for line in lines if line.startswith("--")]
    return {k: v for k, v in pairs if k != "flagfile"}


def test_the_36_paper_flagfiles_and_the_extras_exist():
    names = {
        os.path.basename(p)[: -len(".flags")]
        for p in glob.glob(os.path.join(REPO, "flags", "*.flags"))
    }
    expected = {
        f"{d}_{a}_{m}"
        for d, a, m in itertools.product(DATASETS, ARCHS, METHODS)
    }
    assert expected | {"smoke", "demo"} <= names
    datasets = glob.glob(os.path.join(REPO, "flags", "datasets", "*.flags"))
    assert {os.path.basename(p)[: -len(".flags")] for p in datasets} == set(
        DATASETS
    )


@pytest.mark.parametrize("path", _flagfiles(), ids=os.path.basename)
def test_every_flagfile_parses_to_a_valid_config(path, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    config = _config([f"--flagfile={path}"])
    assert config == config_lib.ExperimentConfig.from_json(config.to_json())


@pytest.mark.parametrize("path", _flagfiles(), ids=os.path.basename)
def test_flagfiles_state_no_library_default(path):
    # A cell names its dataset / architecture / method; every other line
    # differs from the library default (wsol_tf/config.py).
    identity = {"dataset_name", "architecture", "method"}
    for name, text in _settings(path).items():
        if name in identity:
            continue
        fv = copy.deepcopy(flags.FLAGS)
        fv(["prog", f"--{name}={text}"])
        assert fv[name].value != fv[name].default, (path, name)


@pytest.mark.parametrize(
    "dataset,arch,method", list(itertools.product(DATASETS, ARCHS, METHODS))
)
def test_flagfile(dataset, arch, method, monkeypatch, tmp_path):
    name = f"{dataset}_{arch}_{method}"
    path = os.path.join(REPO, "flags", f"{name}.flags")
    monkeypatch.chdir(tmp_path)  # nested include must resolve from anywhere
    config = _config([f"--flagfile={path}"])
    # The demo preset of tools/train.py must not leak into flagfile runs.
    demo = os.path.join(REPO, TRAIN.DEMO_FLAGFILE)
    assert config == _config([f"--flagfile={path}"], preset=demo)
    assert (config.data.dataset_name, config.model.architecture) == (
        dataset,
        arch,
    )
    assert config.model.method == method
    assert config.train.model_dir == f"runs/{name}"
    # Protocol (the library defaults).
    assert (config.data.image_size, config.data.eval_image_size) == (224, 224)
    assert config.data.resize_size == 256
    assert config.eval.cam_curve_interval == 0.001
    assert config.eval.multi_contour_eval
    assert config.eval.iou_thresholds == (30, 50, 70)
    assert config.train.nesterov and config.train.momentum == 0.9
    assert config.train.lr_classifier_ratio == 10
    published = WSOLEVALUATION_VALUES.get(name, {})
    expected = {
        "batch_size": 32,
        "learning_rate": 0.01,
        "weight_decay": 1e-4,
        **published,
    }
    assert config.data.batch_size == expected["batch_size"]
    assert config.train.learning_rate == expected["learning_rate"]
    assert config.train.weight_decay == expected["weight_decay"]
    if dataset in SCHEDULE:
        assert (config.train.epochs, config.train.lr_decay_epochs) == (
            SCHEDULE[dataset]
        )
    for key in ("epochs", "lr_decay_epochs"):
        if key in published:
            assert getattr(config.train, key) == published[key]
    if method != "cam":
        # wsolevaluation config.py: --adl_threshold default 0.9.
        assert config.model.resolved_drop_threshold() == 0.9
    with open(path) as f:
        header = f.read().split("\n\n")[0]
    assert "python tools/train.py --flagfile=flags/" + name in header
    assert "Expected runtime" in header
    for number in PUBLISHED.get(name, ["no published number"]):
        assert number in header
    assert "Hyper-parameters: wsolevaluation" in header
    flat = " ".join(line.strip("# ") for line in header.splitlines())
    for value in published.values():
        assert str(value) in flat.replace("5.00E-04", "0.0005")


@pytest.mark.parametrize("path", _flagfiles(), ids=os.path.basename)
def test_every_flagfile_feeds_the_input_its_weights_need(
    path, monkeypatch, tmp_path
):
    monkeypatch.chdir(tmp_path)
    config = _config([f"--flagfile={path}"])
    arch, weights = config.model.architecture, config.model.weights
    # No flagfile names a file; "synthetic" (the demo) becomes the cached
    # pretraining file, which records the protocol's normalisation.
    assert weights in (None, "imagenet", "synthetic")
    if weights == "synthetic":
        assert pretrain.NORMALIZATION == "imagenet"
        weights = None
    resolved = resolve_normalization(config.data.normalization, arch, weights)
    images = np.random.default_rng(0).uniform(0, 255, (2, 5, 5, 3))
    images = images.astype("float32")
    if weights is None:
        expected = _protocol_input(images)
    else:
        expected = KERAS_PREPROCESS[arch](images.copy())
    actual = keras.ops.convert_to_numpy(normalize_images(images, resolved))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-4)
    # The (weights, normalisation, layout) triple is required_normalization's.
    assert backbones.weights_layout(weights) == "keras"
    required = backbones.required_normalization(arch, weights)
    assert resolved == (required or "imagenet")


def test_smoke_flagfile_is_tiny_and_float32():
    config = _config(["--flagfile=" + os.path.join(REPO, "flags/smoke.flags")])
    assert config.data.dataset_name == "synthetic"
    assert config.data.image_size == 64
    assert config.train.precision == "float32"
    assert 0 < config.train.steps_per_epoch <= 4


def test_unknown_flag_in_a_flagfile_fails(tmp_path):
    bad = tmp_path / "bad.flags"
    bad.write_text("--flagfile=flags/datasets/cub.flags\n--learning_rat=0.1\n")
    with pytest.raises(flags.Error, match="learning_rat"):
        _config([f"--flagfile={bad}"])


def test_demo_preset_only_without_a_flagfile(capsys):
    demo = os.path.join(REPO, TRAIN.DEMO_FLAGFILE)
    config = _config(["--epochs=2"], preset=demo)
    assert "preset" in capsys.readouterr().out
    assert (config.data.image_size, config.data.resize_size) == (128, 144)
    assert config.model.weights == "synthetic"
    assert config.train.epochs == 2  # the command line overrides the preset
    assert config.train.model_dir == "runs/synthetic_resnet50_icl"
    smoke = os.path.join(REPO, "flags", "smoke.flags")
    config = _config([f"--flagfile={smoke}"], preset=demo)
    assert "preset" not in capsys.readouterr().out
    assert config.train.model_dir == "runs/smoke"
    assert config.data.batch_size == 2 and config.train.epochs == 2
    # Without a preset, nothing of the demo: the library defaults.
    assert _config([]) == config_lib.ExperimentConfig()


def test_a_preset_by_name_equals_its_flagfile(capsys):
    by_name = _config(["--preset=cub_resnet50_icl"])
    by_path = _config(
        [f"--flagfile={os.path.join(REPO, 'flags', 'cub_resnet50_icl.flags')}"]
    )
    assert by_name == by_path
    assert by_name.model.method == "icl" and by_name.train.epochs == 50
    # A preset counts as a flagfile: the demo preset is not read under it.
    demo = os.path.join(REPO, TRAIN.DEMO_FLAGFILE)
    assert _config(["--preset=smoke"], preset=demo).train.model_dir == (
        "runs/smoke"
    )
    assert "preset flags/" not in capsys.readouterr().out


def test_an_unknown_preset_is_one_line_naming_the_presets():
    with pytest.raises(flags.Error) as info:
        _config(["--preset=cub_resnet51_icl"])
    message = str(info.value)
    assert "\n" not in message
    assert "'cub_resnet51_icl'" in message and "cub_resnet50_icl" in message


def test_installed_presets_resolve_outside_the_checkout(tmp_path, monkeypatch):
    """As installed: the flagfiles under wsol_tf/presets, no checkout, and
    a working directory elsewhere; nested `flags/datasets/...` includes
    are found in the presets folder."""
    import shutil

    installed = tmp_path / "site" / "wsol_tf" / "presets"
    shutil.copytree(os.path.join(REPO, "flags"), installed)
    monkeypatch.setattr(flagfiles, "_INSTALLED_PRESETS", str(installed))
    monkeypatch.setattr(flagfiles, "REPO_ROOT", str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path)
    assert flagfiles.presets_dir() == str(installed)
    config = _config(["--preset=cub_resnet50_cam"])
    assert config.data.dataset_name == "cub"  # from flags/datasets/cub.flags
    assert "demo" in flagfiles.preset_names()
    demo = _config([], preset=TRAIN.DEMO_FLAGFILE)
    assert demo.model.weights == "synthetic"
