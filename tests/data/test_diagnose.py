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
