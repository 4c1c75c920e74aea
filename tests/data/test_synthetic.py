"""Synthetic datasets: determinism, layout, the first ("heads") set's design.

The "birds" style's own design is tested in test_synthetic_birds.py.
"""

import hashlib
import os
import time

import cv2
import numpy as np
import pytest
from file_helpers import read_tree  # noqa: I001 (tests/)

from wsol_tf.config import DataConfig
from wsol_tf.data import generate_synthetic_dataset
from wsol_tf.data import read_metadata
from wsol_tf.data import resolve_dataset
from wsol_tf.data import validate_dataset
from wsol_tf.data.synthetic import render_image
from wsol_tf.data.synthetic_render import MAX_CLASSES
from wsol_tf.data.synthetic_render import head_style

TINY = dict(
    num_classes=3,
    train_per_class=2,
    val_per_class=1,
    test_per_class=2,
    image_size=48,
)


def _tiny_config(tmp_path, **changes):
    """A `DataConfig` of the TINY set, cached under `tmp_path`."""
    return DataConfig(
        cache_dir=str(tmp_path),
        **{f"synthetic_{k}": v for k, v in TINY.items()},
        **changes,
    )


# sha256 over "path:sha256(file)" lines (sorted) of the "heads" set written
# with TINY and seed 0 by the generator before the "birds" style existed
# (commit 0bdfb17, where it was the default set): the first set stays
# byte-identical under its new name.
HEADS_TINY_SHA256 = (
    "5162ba5d05a50cc2d34d2f3cb0a67774a79ea7cad0328838f7549afc8ecfa3bd"
)


@pytest.fixture(scope="module", params=["birds", "heads"])
def tiny_synthetic(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic") / "a"
    return generate_synthetic_dataset(
        str(root), style=request.param, seed=0, **TINY
    )


def test_deterministic_for_a_seed(tiny_synthetic, tmp_path):
    with open(os.path.join(tiny_synthetic, "synthetic.json")) as f:
        style = "birds" if '"birds"' in f.read() else "heads"
    kwargs = dict(style=style, **TINY)
    written = []
    again = generate_synthetic_dataset(
        str(tmp_path / "b"),
        seed=0,
        progress=lambda: written.append(os.path.exists(tmp_path / "b")),
        **kwargs,
    )
    other = generate_synthetic_dataset(str(tmp_path / "c"), seed=1, **kwargs)
    first, second, third = (
        read_tree(tiny_synthetic),
        read_tree(again),
        read_tree(other),
    )
    assert len(first) > 20
    assert first == second  # byte-identical
    images = [k for k in first if k.endswith(".jpg")]
    # One progress call per image, each before the set is renamed in place.
    per_class = sum(TINY[f"{s}_per_class"] for s in ("train", "val", "test"))
    assert len(written) == len(images) == TINY["num_classes"] * per_class
    assert not any(written)
    assert all(first[k] != third.get(k) for k in images)
    # Written atomically: no temporary directory is left behind.
    assert sorted(os.listdir(tmp_path)) == ["b", "c"]
    with pytest.raises(ValueError, match="Received: root="):
        generate_synthetic_dataset(str(tmp_path / "b"), seed=0, **kwargs)


def test_heads_set_is_byte_identical_under_its_name(tmp_path):
    root = resolve_dataset(
        _tiny_config(tmp_path, dataset_name="synthetic_heads")
    ).data_root
    assert os.path.basename(root) == "synthetic_v1_c3_n2-1-2_s48_seed0"
    files = read_tree(root)
    assert len(files) == 59
    digest = hashlib.sha256(
        "".join(
            f"{k}:{hashlib.sha256(v).hexdigest()}\n"
            for k, v in sorted(files.items())
        ).encode()
    ).hexdigest()
    assert digest == HEADS_TINY_SHA256


def test_layout_reads_back_and_validates(tiny_synthetic):
    boxes_root = os.path.join(tiny_synthetic, "metadata", "SYNTHETIC")
    masks_root = os.path.join(tiny_synthetic, "metadata", "SYNTHETIC_PXAP")
    for split, per_class in (("train", 2), ("val", 1), ("test", 2)):
        assert validate_dataset(boxes_root, split, tiny_synthetic) == []
        assert validate_dataset(masks_root, split, tiny_synthetic) == []
        meta = read_metadata(boxes_root, split, tiny_synthetic)
        assert len(meta.image_ids) == 3 * per_class
        assert sorted(set(meta.labels.values())) == [0, 1, 2]
    assert read_metadata(masks_root, "train").annotation is None


def _mask_box(path):
    mask = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    assert set(np.unique(mask)) <= {0, 255}
    ys, xs = np.nonzero(mask)
    return (xs.min(), ys.min(), xs.max(), ys.max()), mask.shape


def test_boxes_equal_mask_extents(tiny_synthetic):
    boxes_root = os.path.join(tiny_synthetic, "metadata", "SYNTHETIC")
    masks_root = os.path.join(tiny_synthetic, "metadata", "SYNTHETIC_PXAP")
    for split in ("val", "test"):
        boxes = read_metadata(boxes_root, split, tiny_synthetic)
        masks = read_metadata(masks_root, split, tiny_synthetic)
        for image_id in boxes.image_ids:
            paths, ignore = masks.masks[image_id]
            assert ignore is not None
            extents = []
            for p in paths:
                box, shape = _mask_box(masks.path(p))
                assert shape[::-1] == boxes.sizes[image_id]
                extents.append(box)
            assert sorted(extents) == sorted(boxes.boxes[image_id])


def test_render_matches_its_annotations_and_part_bounds():
    ratios, two = [], 0
    for index in range(60):
        ex = render_image(
            0, "test", index, index % 4, num_classes=4, image_size=96
        )
        for box, mask, part in zip(ex.boxes, ex.instance_masks, ex.part_masks):
            ys, xs = np.nonzero(mask)
            assert list(box) == [xs.min(), ys.min(), xs.max(), ys.max()]
            assert not (part & ~mask).any()  # the head is part of the object
            ratios.append(part.sum() / mask.sum())
        union = ex.instance_masks.any(axis=0)
        assert not (ex.distractor_head_mask & union).any()
        assert not (ex.ignore_mask & union).any()
        if len(ex.boxes) == 2:
            two += 1
            a, b = ex.boxes
            assert a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]
    # The part is small relative to the object (designed bound < 15%).
    assert 0.01 < min(ratios) and max(ratios) < 0.15, (min(ratios), max(ratios))
    assert 3 <= two <= 25  # about 20% of the images hold two objects


def test_label_is_decided_by_the_part_only():
    for index in range(10):
        a = render_image(0, "val", index, 0, num_classes=4, image_size=64)
        b = render_image(0, "val", index, 1, num_classes=4, image_size=64)
        heads = (
            a.part_masks.any(0)
            | b.part_masks.any(0)
            | a.distractor_head_mask
            | b.distractor_head_mask
        )
        differs = (a.image != b.image).any(axis=-1)
        assert differs.any()
        assert not (differs & ~heads).any()  # bodies and background equal
        for ex in (a, b):
            colour = np.array(head_style(ex.label)[0])
            head = ex.image[ex.part_masks.any(0)]
            share = (np.abs(head.astype(int) - colour).sum(-1) == 0).mean()
            assert share > 0.4


def _part_shares(**kwargs):
    shares = []
    for index in range(40):
        ex = render_image(
            0, "test", index, index % 4, num_classes=4, image_size=96, **kwargs
        )
        for mask, part in zip(ex.instance_masks, ex.part_masks):
            shares.append(part.sum() / mask.sum())
    return np.array(shares)


def test_head_scale_grows_the_part_area_about_proportionally():
    base = _part_shares()
    big = _part_shares(head_scale=2.0)
    # Head area ~ s * HEAD_FRACTION * a * b (the 3 px minimum radius and
    # pixelation aside): the median share roughly doubles, and stays a part.
    ratio = np.median(big) / np.median(base)
    assert 1.6 < ratio < 2.4, ratio
    assert big.max() < 0.15


def test_distractor_heads_probability():
    def count(p):
        return sum(
            render_image(
                0,
                "train",
                i,
                i % 4,
                num_classes=4,
                image_size=64,
                distractor_heads=p,
            ).distractor_head_mask.any()
            for i in range(40)
        )

    assert count(0.0) == 0
    assert 8 <= count(0.4) <= 24  # about 40 %
    assert count(1.0) >= 30  # placed unless the image has no room
    # The same draws either way: only head pixels differ.
    a = render_image(0, "val", 3, 0, num_classes=4, image_size=64)
    b = render_image(
        0, "val", 3, 0, num_classes=4, image_size=64, distractor_heads=0.0
    )
    assert (a.boxes == b.boxes).all()
    differs = (a.image != b.image).any(-1)
    assert not (differs & ~a.distractor_head_mask).any()


def test_variant_settings_get_their_own_cache_dir(tmp_path):
    from wsol_tf.data.synthetic import ensure_synthetic_dataset

    heads = dict(style="heads", seed=0, **TINY)
    default = ensure_synthetic_dataset(str(tmp_path), **heads)
    variant = ensure_synthetic_dataset(
        str(tmp_path), head_scale=2.0, distractor_heads=0.0, **heads
    )
    assert os.path.basename(default) == "synthetic_v1_c3_n2-1-2_s48_seed0"
    assert os.path.basename(variant).endswith("_h2_d0")
    with open(os.path.join(variant, "synthetic.json")) as f:
        text = f.read()
    assert '"head_scale": 2.0' in text and '"distractor_heads": 0.0' in text
    for bad in (dict(head_scale=0.0), dict(head_scale=3.5)):
        with pytest.raises(ValueError, match="head_scale"):
            ensure_synthetic_dataset(str(tmp_path), **bad, **heads)
    with pytest.raises(ValueError, match="distractor_heads"):
        ensure_synthetic_dataset(str(tmp_path), distractor_heads=1.5, **heads)
    with pytest.raises(ValueError, match="body_rate does not apply"):
        ensure_synthetic_dataset(str(tmp_path), body_rate=0.5, **heads)


def test_head_styles():
    styles = [head_style(k) for k in range(MAX_CLASSES)]
    assert len(set(styles)) == MAX_CLASSES
    first = styles[:4]
    for attribute in range(3):
        assert len({s[attribute] for s in first}) == 4
    with pytest.raises(ValueError, match="Received: class_id=96"):
        head_style(96)


@pytest.mark.large
def test_default_size_generates_in_under_a_minute(tmp_path):
    start = time.perf_counter()
    generate_synthetic_dataset(str(tmp_path / "d"), style="heads")
    assert time.perf_counter() - start < 60


def test_a_larger_test_split_keeps_train_and_val_byte_identical(tmp_path):
    from wsol_tf.data.resolve import with_synthetic_test_split

    small = resolve_dataset(_tiny_config(tmp_path))
    large = with_synthetic_test_split(small, 5)
    assert large.synthetic_test_per_class == 5
    assert os.path.basename(large.data_root).endswith("_n2-1-5_s48_seed0")
    for split in ("train", "val"):
        a = read_tree(os.path.join(small.data_root, "images", split))
        assert a == read_tree(os.path.join(large.data_root, "images", split))
        meta = read_metadata(large.metadata_root, split, large.data_root)
        assert (
            meta.image_ids
            == read_metadata(
                small.metadata_root, split, small.data_root
            ).image_ids
        )
    test = read_metadata(large.metadata_root, "test", large.data_root)
    assert len(test.image_ids) == 15
    with pytest.raises(ValueError, match="dataset_name='CUB'"):
        with_synthetic_test_split(small.replace(dataset_name="CUB"), 5)
