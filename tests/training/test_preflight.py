"""Pre-flight checks: what would fail minutes into training fails first,
naming the file, line or flag (issue 13)."""

import os

import cv2
import keras
import numpy as np
import pytest

from wsol_tf.config import DataConfig
from wsol_tf.config import ExperimentConfig
from wsol_tf.config import ModelConfig
from wsol_tf.errors import WSOLError
from wsol_tf.training import preflight


def test_input_size_below_the_backbone_minimum_names_the_flag():
    config = ExperimentConfig(
        model=ModelConfig(architecture="inceptionv3"),
        data=DataConfig(resize_size=20, image_size=14),
    )
    with pytest.raises(WSOLError, match=r"--image_size=14 .*inceptionv3.* 15"):
        preflight.check_input_sizes(config)
    config = config.replace(data=config.data.replace(image_size=15))
    preflight.check_input_sizes(config)
    with pytest.raises(WSOLError, match="--eval_image_size=8"):
        preflight.check_input_sizes(
            config.replace(data=config.data.replace(eval_image_size=8))
        )


def test_weights_checked_against_the_architecture(tmp_path):
    path = str(tmp_path / "vgg16_notop.weights.h5")
    keras.applications.VGG16(include_top=False, weights=None).save_weights(path)
    preflight.check_weights(ModelConfig(architecture="vgg16", weights=path))
    with pytest.raises(ValueError, match=r"as resnet50 weights"):
        preflight.check_weights(
            ModelConfig(architecture="resnet50", weights=path)
        )
    missing = str(tmp_path / "nothing.h5")
    with pytest.raises(ValueError, match=f"does not exist.*{missing}"):
        preflight.check_weights(
            ModelConfig(architecture="vgg16", weights=missing)
        )
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"\x89HDF\r\n" + b"\x00" * 100)
    with pytest.raises(ValueError, match=str(garbage)):
        preflight.check_weights(
            ModelConfig(architecture="vgg16", weights=str(garbage))
        )


def _three_splits(tmp_path):
    """Two 20x20 PNG images per split, listed as 20x20."""
    data, meta = tmp_path / "data", tmp_path / "meta"
    for split in ("train", "val", "test"):
        (meta / split).mkdir(parents=True)
        ids = [f"{split}/{k}.png" for k in range(2)]
        for image_id in ids:
            (data / split).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(data / image_id), np.zeros((20, 20, 3), np.uint8))
        (meta / split / "image_ids.txt").write_text("\n".join(ids))
        (meta / split / "class_labels.txt").write_text(
            "\n".join(f"{i},{k}" for k, i in enumerate(ids))
        )
        (meta / split / "image_sizes.txt").write_text(
            "\n".join(f"{i},20,20" for i in ids)
        )
        (meta / split / "localization.txt").write_text(
            "\n".join(f"{i},1,1,9,9" for i in ids)
        )
    config = ExperimentConfig(
        model=ModelConfig(architecture="vgg16", width_multiplier=0.125),
        data=DataConfig(
            dataset_name="custom",
            data_root=str(data),
            metadata_root=str(meta),
            num_classes=2,
            resize_size=20,
            image_size=16,
            eval_image_size=16,
        ),
    )
    return data, meta, config


def test_preflight_scans_every_split(tmp_path):
    data, meta, config = _three_splits(tmp_path)
    preflight.preflight_checks(config)
    os.remove(data / "test" / "1.png")
    with pytest.raises(WSOLError) as info:
        preflight.preflight_checks(config)
    where = os.path.join(str(meta), "test", "image_ids.txt") + ":2:"
    assert where in str(info.value).splitlines()[0]
    (meta / "val" / "localization.txt").write_text("val/0.png,1,1,30,9")
    with pytest.raises(ValueError, match=r"val/localization.txt:1: box"):
        preflight.preflight_checks(config)


def test_a_wrong_val_or_test_image_size_is_refused_by_file_line(tmp_path):
    data, meta, config = _three_splits(tmp_path)
    # Train sizes scale no scored box: a wrong one is not a run's problem.
    (meta / "train" / "image_sizes.txt").write_text(
        "train/0.png,20,20\ntrain/1.png,300,300"
    )
    preflight.preflight_checks(config)
    (meta / "val" / "image_sizes.txt").write_text(
        "val/0.png,20,20\n\nval/1.png,300,300"
    )
    with pytest.raises(WSOLError) as info:
        preflight.preflight_checks(config)
    where = os.path.join(str(meta), "val", "image_sizes.txt") + ":3:"
    assert str(info.value).splitlines()[0] == (
        "1 image size(s) in image_sizes.txt differ from the image on disk "
        f"(its boxes would be scaled wrongly): {where} image 'val/1.png' is "
        "20x20 on disk, but image_sizes.txt says 300x300"
    )


def test_an_unbuilt_evaluation_kernel_is_refused_before_training(monkeypatch):
    from wsol_tf.evaluation import box_evaluator

    config = ExperimentConfig()
    preflight.check_evaluation(config.eval)  # built in this checkout
    monkeypatch.setattr(box_evaluator, "_fastboxes", None)
    with pytest.raises(WSOLError, match="_fastboxes is not built: run"):
        preflight.check_evaluation(config.eval)
