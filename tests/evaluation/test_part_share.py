"""wsol_tf/evaluation/part_share.py: CAM mass on the head vs the object,
hand-made maps."""

import cv2
import numpy as np
import pytest
from cam_helpers import MapModel  # tests/
from cam_helpers import tiny_synthetic
from cam_helpers import written_parts

from wsol_tf.config import DataConfig
from wsol_tf.data import build_dataset
from wsol_tf.data import resolve_dataset
from wsol_tf.data.synthetic import render_image
from wsol_tf.evaluation.part_share import part_share

SIZE = 48


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return resolve_dataset(
        DataConfig(
            dataset_name="synthetic_heads",
            cache_dir=str(tmp_path_factory.mktemp("cache")),
            image_size=SIZE,
            resize_size=SIZE,
            eval_image_size=SIZE,
            eval_batch_size=4,
            synthetic_num_classes=2,
            synthetic_train_per_class=2,
            synthetic_val_per_class=1,
            synthetic_test_per_class=3,
            synthetic_image_size=64,
            synthetic_head_scale=2.0,
            synthetic_distractor_heads=0.0,
        )
    )


def _masks(data):
    """(object, head) masks at SIZE of every test image, in dataset order."""
    out = []
    for batch in build_dataset(data, "test", training=False):
        for image_id, label in zip(
            np.asarray(batch["image_ids"]), np.asarray(batch["labels"])
        ):
            index = int(image_id.decode().split("_")[-1].split(".")[0])
            ex = render_image(
                0,
                "test",
                index,
                int(label),
                num_classes=2,
                image_size=64,
                head_scale=2.0,
                distractor_heads=0.0,
            )
            obj, head = (
                cv2.resize(
                    m.any(0).astype(np.uint8),
                    (SIZE, SIZE),
                    interpolation=cv2.INTER_NEAREST,
                )
                for m in (ex.instance_masks, ex.part_masks)
            )
            out.append((obj.astype(bool), head.astype(bool)))
    return out


def test_object_mask_map_has_the_area_share_on_the_head(data):
    masks = _masks(data)
    assert len(masks) == 6
    area = np.mean([h.sum() / o.sum() for o, h in masks]) * 100
    # A map equal to the object mask: all mass on the object, and the
    # head's share of it is the head's share of the object's pixels.
    got = part_share(MapModel(o for o, _ in masks), data)
    assert got["cam_on_object"] == pytest.approx(100.0)
    assert got["head_of_object"] == pytest.approx(area)
    assert got["head_area"] == pytest.approx(area)
    assert 0 < area < 15


def test_head_only_and_background_only_maps(data):
    masks = _masks(data)
    got = part_share(MapModel(h for _, h in masks), data)
    assert got["cam_on_object"] == pytest.approx(100.0)
    assert got["head_of_object"] == pytest.approx(100.0)
    got = part_share(MapModel(~o for o, _ in masks), data)
    assert got["cam_on_object"] == pytest.approx(0.0)
    # 1.0 on the object, 0.5 elsewhere: min-max normalisation (protocol)
    # maps the background to 0, so all the mass is on the object.
    mixed = [np.where(o, 1.0, 0.5) for o, _ in masks]
    got = part_share(MapModel(mixed), data)
    assert got["cam_on_object"] == pytest.approx(100.0)


def test_birds_set_shares_from_the_written_part_masks(tmp_path):
    # The "birds" set writes each val / test image's part labels as a PNG
    # at generation: an independent source of the head and object masks.
    birds = tiny_synthetic(tmp_path, SIZE, test_per_class=2)
    parts = written_parts(birds, SIZE)
    area = np.mean([(p == 1).sum() / (p > 0).sum() for p in parts]) * 100
    got = part_share(MapModel((p > 0) for p in parts), birds)
    assert got["cam_on_object"] == pytest.approx(100.0)
    assert got["cam_on_background"] == pytest.approx(0.0)
    assert got["head_of_object"] == pytest.approx(area)
    assert got["head_area"] == pytest.approx(area)
    # Half the mass on the head, half on the background: 1.0 on the head,
    # 0.0 on the object's other parts, and the background at the level
    # that gives it the head's total mass.
    maps = []
    for p in parts:
        m = (p == 1).astype(np.float64)
        m[p == 0] = (p == 1).sum() / (p == 0).sum()
        maps.append(m)
    got = part_share(MapModel(maps), birds)
    assert got["cam_on_object"] == pytest.approx(50.0, rel=1e-4)
    assert got["head_of_object"] == pytest.approx(100.0)
