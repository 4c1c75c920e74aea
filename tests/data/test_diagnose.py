"""A corrupt JPEG met inside the pipeline gets an error naming the file."""

import os

import numpy as np
import pytest

from wsol_tf.config import DataConfig
from wsol_tf.data import build_dataset
from wsol_tf.data import name_undecodable_images


def _dataset(write_dataset):
    rng = np.random.default_rng(0)
    images = {
        f"x/{i}.jpg": (rng.integers(0, 255, (24, 24, 3), np.uint8), i % 2, [])
        for i in range(4)
    }
    for i in images:
        images[i][2].append((2, 2, 10, 10))
    data, meta = write_dataset(images)
    # Keep the JPEG header (so up-front checks pass), destroy the data.
    path = os.path.join(data, "x", "2.jpg")
    raw = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(raw[:200] + b"\x00" * 40)
    cfg = DataConfig(
        dataset_name="tiny",
        data_root=data,
        metadata_root=meta,
        num_classes=2,
        train_split="s",
        resize_size=16,
        image_size=16,
        batch_size=2,
        shuffle_buffer=4,
    )
    return cfg, path


def test_decode_error_names_the_corrupt_file(write_dataset):
    cfg, path = _dataset(write_dataset)
    ds = build_dataset(cfg, "s", training=True)
    with pytest.raises(ValueError) as info:
        with name_undecodable_images(cfg, ["s"]):
            for _ in ds:
                pass
    message = str(info.value)
    assert path in message
    assert "image_ids.txt:3:" in message  # x/2.jpg is the third line
    # The other images are fine and not listed.
    assert os.path.join("x", "1.jpg") not in message


def test_other_errors_pass_through(write_dataset):
    cfg, _ = _dataset(write_dataset)
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError, match="shapes"):
        with name_undecodable_images(cfg, ["s"]):
            raise tf.errors.InvalidArgumentError(None, None, "bad shapes")


def test_first_val_batch_read_for_tensorboard_names_the_corrupt_file(
    write_dataset, tmp_path
):
    # run_training's callbacks read the first val batch (CAM images for
    # TensorBoard) outside model.fit's guard: that read names the file too.
    pytest.importorskip("tensorboard")
    from wsol_tf.config import ExperimentConfig
    from wsol_tf.training import loop

    cfg, path = _dataset(write_dataset)
    cfg = cfg.replace(val_split="s", eval_image_size=16, eval_batch_size=4)
    config = ExperimentConfig(data=cfg)
    val_ds = build_dataset(cfg, "s", training=False)
    with pytest.raises(ValueError) as info:
        loop._callbacks(
            str(tmp_path / "run"), config, True, "chief", val_ds, False, 0
        )
    first_line = str(info.value).splitlines()[0]
    assert "image_ids.txt:3:" in first_line and path in first_line


def test_scan_dataset_lists_missing_and_with_verify_undecodable_images(
    write_dataset,
):
    from wsol_tf.data.diagnose import scan_dataset

    cfg, path = _dataset(write_dataset)
    # Metadata and files are fine; the corrupt JPEG is found only by
    # decoding it.
    scan_dataset(cfg, ["s"])
    with pytest.raises(ValueError) as info:
        scan_dataset(cfg.replace(verify_images=True), ["s"])
    first_line = str(info.value).splitlines()[0]
    assert first_line.startswith("1 unreadable image(s): ")
    assert "image_ids.txt:3:" in first_line and path in first_line
    os.remove(os.path.join(cfg.data_root, "x", "0.jpg"))
    os.remove(path)
    for verify in (False, True):
        with pytest.raises(ValueError) as info:
            scan_dataset(cfg.replace(verify_images=verify), ["s"])
        text = str(info.value)
        assert text.startswith("2 ") and "image_ids.txt:1:" in text
        assert "image_ids.txt:3:" in text and "not found" in text
    # A metadata problem of any split stops the scan with file and line.
    labels = os.path.join(cfg.metadata_root, "s", "class_labels.txt")
    with open(labels, "a") as f:
        f.write("\nx/1.jpg,zz")
    with pytest.raises(ValueError, match=r"class_labels.txt:5: expected int"):
        scan_dataset(cfg, ["s"])
