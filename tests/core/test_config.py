"""Tests for wsol_tf.config."""

import json

import pytest

from wsol_tf import config as cfg


def test_defaults_validate_and_round_trip_through_json():
    c = cfg.ExperimentConfig()
    c.validate()
    back = cfg.ExperimentConfig.from_json(c.to_json())
    assert back == c
    d = json.loads(c.to_json())
    assert d["eval"]["iou_thresholds"] == [30, 50, 70]
    assert d["loss"]["temperature"] == 0.07
    assert d["model"]["drop_rate"] == 0.75


@pytest.mark.parametrize(
    "arch,expected", [("vgg16", 0.8), ("inceptionv3", 0.8), ("resnet50", 0.9)]
)
def test_drop_threshold_defaults_follow_adl(arch, expected):
    m = cfg.ModelConfig(architecture=arch)
    assert m.resolved_drop_threshold() == expected
    m = cfg.ModelConfig(architecture=arch, drop_threshold=0.5)
    assert m.resolved_drop_threshold() == 0.5


@pytest.mark.parametrize(
    "part,field,value",
    [
        (cfg.ModelConfig, "architecture", "alexnet"),
        (cfg.ModelConfig, "method", "spg"),
        (cfg.ModelConfig, "drop_rate", 1.5),
        (cfg.ModelConfig, "non_local_reduction", 0),
        (cfg.ModelConfig, "non_local_reduction", 1.5),
        (cfg.LossConfig, "contrastive", "infonce"),
        (cfg.LossConfig, "temperature", 0.0),
        (cfg.DataConfig, "resize_size", 8),
        (cfg.TrainConfig, "precision", "float64"),
        (cfg.EvalConfig, "cam_curve_interval", 0.0),
    ],
)
def test_bad_values_name_the_field(part, field, value):
    with pytest.raises(ValueError, match=rf"Received: {field}="):
        part(**{field: value}).validate()


def test_unknown_keys_are_rejected():
    with pytest.raises(ValueError, match="Unknown ModelConfig keys"):
        cfg.ModelConfig.from_dict({"architecure": "vgg16"})
    with pytest.raises(ValueError, match="Unknown ExperimentConfig sections"):
        cfg.ExperimentConfig.from_dict({"optim": {}})


def test_replace_validates():
    m = cfg.ModelConfig()
    assert m.replace(method="adl").method == "adl"
    with pytest.raises(ValueError):
        m.replace(mask_mode="fuzzy")
