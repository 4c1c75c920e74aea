"""Tests for wsol_tf/cli/config_flags.py: flags <-> ExperimentConfig."""

import copy
import dataclasses
import os

import pytest
from absl import flags

from wsol_tf import config as config_lib
from wsol_tf import settings
from wsol_tf.cli import config_flags
from wsol_tf.cli import flagfiles


def _parse(argv):
    fv = copy.deepcopy(flags.FLAGS)
    flagfiles.parse_flags(["prog"] + list(argv), fv)
    return fv


def test_one_flag_per_config_field_with_library_default():
    fv = _parse([])
    for section, cls in config_lib.ExperimentConfig._PARTS.items():
        for field in dataclasses.fields(cls):
            assert field.name in fv, f"{section}.{field.name} has no flag"
            spec = settings.spec_of(cls, field.name)
            # The help is the declared one, the default the field's.
            assert fv[field.name].help.endswith(spec.help) and spec.help
            assert fv[field.name].default == field.default
            if spec.choices:
                enum = tuple(fv[field.name].parser.enum_values)
                assert enum == spec.choices
    # Defaults (no flags) give exactly the library's ExperimentConfig.
    assert config_flags.config_from_flags(fv) == config_lib.ExperimentConfig()


def test_values_reach_the_right_sections():
    fv = _parse(
        [
            "--seed=7",
            "--num_classes=5",
            "--iou_thresholds=30,70",
            "--architecture=vgg16",
            "--mixed_precision=mixed_bfloat16",
            "--nonesterov",
            "--drop_threshold=0.6",
        ]
    )
    config = config_flags.config_from_flags(fv)
    assert config.data.seed == 7 and config.train.seed == 7
    assert config.data.num_classes == 5 and config.model.num_classes == 5
    assert config.eval.iou_thresholds == (30, 70)
    assert config.model.architecture == "vgg16"
    assert config.train.precision == "mixed_bfloat16"
    assert config.train.nesterov is False
    assert config.model.drop_threshold == 0.6


def test_non_local_reduction_flag():
    fv = _parse(["--non_local_reduction=8"])
    assert config_flags.config_from_flags(fv).model.non_local_reduction == 8
    fv = _parse(["--non_local_reduction=0"])
    with pytest.raises(ValueError, match=r"--non_local_reduction"):
        config_flags.config_from_flags(fv)


def test_out_of_range_value_names_the_flag():
    fv = _parse(["--image_size=0"])
    with pytest.raises(ValueError, match=r"--image_size.*image_size=0"):
        config_flags.config_from_flags(fv)


def test_mirrored_fields_have_no_flag_of_their_own():
    # DataConfig.seed / ModelConfig.num_classes read --seed / --num_classes:
    # one definition each, owned by TrainConfig / DataConfig.
    holders = config_flags.HOLDERS
    assert "seed" in holders and "num_classes" in holders
    assert (
        len(holders)
        == sum(
            len(dataclasses.fields(cls))
            for cls in config_lib.ExperimentConfig._PARTS.values()
        )
        - 2
    )
    assert settings.spec_of(config_lib.DataConfig, "seed").same_as
    assert settings.spec_of(config_lib.ModelConfig, "num_classes").same_as


@pytest.mark.parametrize(
    "argv",
    [["--architecture=alexnet"], ["--iou_thresholds=30,x"], ["--bogus=1"]],
)
def test_bad_flags_fail_at_parse_time(argv):
    with pytest.raises(flags.Error):
        _parse(argv)


def test_base_config_only_takes_explicit_flags():
    base = config_lib.ExperimentConfig().replace(
        model=config_lib.ModelConfig(architecture="vgg16", method="cam"),
        eval=config_lib.EvalConfig(cam_curve_interval=0.01),
    )
    fv = _parse(["--method=adl"])
    config = config_flags.config_from_flags(fv, base=base)
    assert config.model.architecture == "vgg16"  # kept from base
    assert config.model.method == "adl"  # explicit flag wins
    assert config.eval.cam_curve_interval == 0.01


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def test_nested_flagfile_resolves_from_any_directory(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    _write(str(root / "flags" / "base.flags"), "# c\n--epochs=3\n--margin=2\n")
    _write(
        str(root / "flags" / "top.flags"),
        "// comment\n--flagfile=flags/base.flags\n\n--epochs=9\n",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    fv = _parse([f"--flagfile={root / 'flags' / 'top.flags'}", "--margin=4"])
    assert fv["epochs"].value == 9  # later line in the file wins
    assert fv["margin"].value == 4.0  # command line after the file wins


def test_missing_flagfile_names_the_path(tmp_path):
    top = tmp_path / "top.flags"
    _write(str(top), "--flagfile=flags/nowhere.flags\n")
    with pytest.raises(flags.Error, match="flags/nowhere.flags"):
        _parse([f"--flagfile={top}"])
