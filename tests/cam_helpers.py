"""Shared pieces of the CAM metrics' tests (part share, cam_regions).

Importable from any test module (pytest puts tests/, the directory of the
root conftest.py, on sys.path).
"""

import cv2
import numpy as np

from wsol_tf.config import DataConfig
from wsol_tf.data import build_dataset
from wsol_tf.data import resolve_dataset
from wsol_tf.data.synthetic_files import read_part_masks


class MapModel:
    """Returns the given maps as CAMs, one per image in dataset order."""

    def __init__(self, maps):
        self.maps = list(maps)

    def compute_cams(self, images, class_ids):
        n = len(class_ids)
        batch, self.maps = self.maps[:n], self.maps[n:]
        return None, np.stack(batch).astype(np.float32)


def tiny_synthetic(cache_dir, size, test_per_class, name="synthetic"):
    """A resolved 2-class synthetic set of 64-px images, evaluated at
    `size` in batches of 4."""
    return resolve_dataset(
        DataConfig(
            dataset_name=name,
            cache_dir=str(cache_dir),
            eval_image_size=size,
            eval_batch_size=4,
            synthetic_num_classes=2,
            synthetic_train_per_class=1,
            synthetic_val_per_class=1,
            synthetic_test_per_class=test_per_class,
            synthetic_image_size=64,
        )
    )


def written_parts(data, size):
    """Part labels at `size` of a "birds" set's test images, from the PNGs
    the generator wrote (independent of any re-rendering), in dataset
    order."""
    parts = []
    for batch in build_dataset(data, "test", training=False):
        for image_id in np.asarray(batch["image_ids"]):
            labels = read_part_masks(data.data_root, image_id.decode())
            parts.append(
                cv2.resize(
                    labels, (size, size), interpolation=cv2.INTER_NEAREST
                )
            )
    return parts
