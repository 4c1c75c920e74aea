"""Every flags/*.flags parses with tools/train.py's flags, and is correct."""

import copy
import glob
import importlib.util
import itertools
import os

import pytest
from absl import flags

from wsol_tf.cli import common_flags

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


def _train_module():
    spec = importlib.util.spec_from_file_location(
        "wsol_train_tool", os.path.join(REPO, "tools", "train.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TRAIN = _train_module()


def _config(argv, demo_defaults=False):
    fv = copy.deepcopy(flags.FLAGS)
    if demo_defaults:
        common_flags.set_defaults(TRAIN.DEMO_DEFAULTS, fv)
    common_flags.parse_flags(["train.py"] + argv, fv)
    return common_flags.config_from_flags(fv)


def test_the_36_paper_flagfiles_and_the_extras_exist():
    names = {
        os.path.basename(p)[: -len(".flags")]
        for p in glob.glob(os.path.join(REPO, "flags", "*.flags"))
    }
    expected = {
        f"{d}_{a}_{m}"
        for d, a, m in itertools.product(DATASETS, ARCHS, METHODS)
    }
    assert expected | {"base", "smoke"} <= names


@pytest.mark.parametrize(
    "dataset,arch,method", list(itertools.product(DATASETS, ARCHS, METHODS))
)
def test_flagfile(dataset, arch, method, monkeypatch, tmp_path):
    name = f"{dataset}_{arch}_{method}"
    path = os.path.join(REPO, "flags", f"{name}.flags")
    monkeypatch.chdir(tmp_path)  # nested include must resolve from anywhere
    config = _config([f"--flagfile={path}"])
    # The demo defaults of tools/train.py must not leak into flagfile runs.
    assert config == _config([f"--flagfile={path}"], demo_defaults=True)
    assert (config.data.dataset_name, config.model.architecture) == (
        dataset,
        arch,
    )
    assert config.model.method == method
    assert config.train.model_dir == f"runs/{name}"
    # Protocol (base.flags).
    assert (config.data.image_size, config.data.eval_image_size) == (224, 224)
    assert config.data.resize_size == 256
    assert config.eval.cam_curve_interval == 0.001
    assert config.eval.multi_contour_eval
    assert config.eval.iou_thresholds == (30, 50, 70)
    assert config.train.nesterov and config.train.momentum == 0.9
    assert config.train.weight_decay == 1e-4
    assert config.train.lr_classifier_ratio == 10
    assert config.train.learning_rate == 0.01
    if dataset in SCHEDULE:
        assert (config.train.epochs, config.train.lr_decay_epochs) == (
            SCHEDULE[dataset]
        )
    if method != "cam":
        gamma = 0.9 if arch == "resnet50" else 0.8
        assert config.model.drop_threshold == gamma
    with open(path) as f:
        header = f.read().split("\n\n")[0]
    assert "python tools/train.py --flagfile=flags/" + name in header
    assert "Expected runtime" in header
    for number in PUBLISHED.get(name, ["no published number"]):
        assert number in header


def test_smoke_flagfile_is_tiny_and_float32():
    config = _config(["--flagfile=" + os.path.join(REPO, "flags/smoke.flags")])
    assert config.data.dataset_name == "synthetic"
    assert config.data.image_size == 64
    assert config.train.precision == "float32"
    assert 0 < config.train.steps_per_epoch <= 4


def test_unknown_flag_in_a_flagfile_fails(tmp_path):
    bad = tmp_path / "bad.flags"
    bad.write_text("--flagfile=flags/base.flags\n--learning_rat=0.1\n")
    with pytest.raises(flags.Error, match="learning_rat"):
        _config([f"--flagfile={bad}"])
