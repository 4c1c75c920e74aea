"""Tests for wsol_tf.config."""

import dataclasses
import json
import os
import re

import pytest

from wsol_tf import config as cfg
from wsol_tf import settings


def test_defaults_validate_and_round_trip_through_json():
    c = cfg.ExperimentConfig()
    c.validate()
    back = cfg.ExperimentConfig.from_json(c.to_json())
    assert back == c
    d = json.loads(c.to_json())
    assert d["eval"]["iou_thresholds"] == [30, 50, 70]
    assert d["loss"]["temperature"] == 0.07
    assert d["model"]["drop_rate"] == 0.75


# wsolevaluation's ADL default (--adl_threshold 0.9) for every backbone.
@pytest.mark.parametrize(
    "arch,expected", [("vgg16", 0.9), ("inceptionv3", 0.9), ("resnet50", 0.9)]
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


@pytest.mark.parametrize(
    "part,kwargs,expected",
    [
        # choices
        (cfg.ModelConfig, dict(mask_mode="x"), r"one of \('hard', 'soft'\)"),
        # closed and open ranges
        (cfg.ModelConfig, dict(drop_rate=-0.1), r"a number in \[0, 1\]"),
        (cfg.ModelConfig, dict(bg_threshold=1.0), r"a number in \[0, 1\)"),
        (cfg.EvalConfig, dict(cam_curve_interval=1.0), r"in \(0, 1\)"),
        (cfg.TrainConfig, dict(epochs=0), "an integer >= 1"),
        # range bounded by another field
        (cfg.DataConfig, dict(resize_size=100), r">= image_size \(224\)"),
        # type
        (cfg.TrainConfig, dict(epochs=2.5), "an integer"),
        (cfg.TrainConfig, dict(nesterov="yes"), "a bool"),
        (cfg.DataConfig, dict(data_root=3), "a string"),
        # optional and tuple
        (cfg.DataConfig, dict(num_classes=0), "None or an integer >= 1"),
        (cfg.EvalConfig, dict(iou_thresholds=()), "a non-empty tuple"),
        (cfg.EvalConfig, dict(iou_thresholds=(50, 101)), r"\(0, 100\]"),
    ],
)
def test_construction_validates_each_kind_of_constraint(part, kwargs, expected):
    ((name, value),) = kwargs.items()
    with pytest.raises(ValueError) as info:
        part(**kwargs)
    message = str(info.value)
    assert message.startswith(f"Invalid config value: expected {name} to be")
    assert message.endswith(f"Received: {name}={value!r}")
    assert re.search(expected, message), message


def test_every_field_declares_help_and_a_valid_default():
    for part in cfg.ExperimentConfig._PARTS.values():
        for field in dataclasses.fields(part):
            spec = settings.spec_of(part, field.name)
            assert spec.help.strip(), f"{part.__name__}.{field.name}"
            assert settings.expectation(part, field.name, field.default) is None


def test_one_num_classes_and_one_seed():
    # The model and data fields mirror one setting each and stay equal.
    e = cfg.ExperimentConfig(train=cfg.TrainConfig(seed=5))
    assert e.data.seed == 5
    e = cfg.ExperimentConfig(data=cfg.DataConfig(num_classes=7))
    assert e.model.num_classes == 7
    e = cfg.ExperimentConfig(model=cfg.ModelConfig(num_classes=3))
    assert e.data.num_classes == 3
    assert cfg.DataConfig().num_classes is cfg.ModelConfig().num_classes
    with pytest.raises(ValueError, match="model.num_classes to equal"):
        cfg.ExperimentConfig(
            data=cfg.DataConfig(num_classes=3),
            model=cfg.ModelConfig(num_classes=4),
        )


def test_changed_settings_names_each_result_changing_difference():
    config = cfg.ExperimentConfig()
    record = json.loads(config.to_json())
    assert settings.changed_settings(config, record) == []
    # Settings declared as unable to change the result may differ.
    record["train"].update(model_dir="elsewhere", export=False)
    record["eval"].update(cam_curve_interval=0.5, iou_thresholds=[50])
    record["data"]["eval_batch_size"] = 1
    assert settings.changed_settings(config, record) == []
    # Others are named, old -> new, as JSON; a missing one is its default.
    record["train"]["learning_rate"] = 0.001
    record["model"]["mask_mode"] = "soft"
    del record["data"]["image_size"]
    changed = config.replace(data=config.data.replace(image_size=64))
    assert settings.changed_settings(changed, record) == [
        "image_size: 224 -> 64",
        'mask_mode: "soft" -> "hard"',
        "learning_rate: 0.001 -> 0.01",
    ]


def test_changed_settings_compares_weights_by_file_name():
    # The resolved synthetic weights are a path inside the package: a run
    # resumes after the package moves, not after another file replaced it.
    name = "resnet50_w0.25_128px_75985d20b2.weights.h5"
    config = cfg.ExperimentConfig(
        model=cfg.ModelConfig(weights=os.path.join("new", "place", name))
    )
    record = json.loads(config.to_json())
    record["model"]["weights"] = os.path.join("old", "site", name)
    assert settings.changed_settings(config, record) == []
    other = os.path.join("new", "place", "other.h5")
    record["model"]["weights"] = other
    new = config.model.weights
    assert settings.changed_settings(config, record) == [
        f'weights: "{other}" -> "{new}"'
    ]
    record["model"]["weights"] = "imagenet"
    assert settings.changed_settings(config, record) == [
        f'weights: "imagenet" -> "{new}"'
    ]
