"""The default synthetic set ("birds"): parts, graded evidence, background."""

import json
import os
import time

import cv2
import numpy as np
import pytest

from wsol_tf.config import DataConfig
from wsol_tf.data import generate_synthetic_dataset
from wsol_tf.data import read_metadata
from wsol_tf.data import resolve_dataset
from wsol_tf.data import synthetic_birds
from wsol_tf.data import synthetic_render
from wsol_tf.data.synthetic import part_label_map
from wsol_tf.data.synthetic import read_part_masks
from wsol_tf.data.synthetic import render_birds_image
from wsol_tf.data.synthetic import render_from_settings
from wsol_tf.data.synthetic_render import PALETTE
from wsol_tf.data.synthetic_render import head_style

PART = {name: value for value, name in enumerate(synthetic_birds.PART_NAMES)}


def _render(index, class_id=None, split="test", **kwargs):
    class_id = index % 4 if class_id is None else class_id
    return render_birds_image(
        0, split, index, class_id, num_classes=4, image_size=128, **kwargs
    )


@pytest.fixture(scope="module")
def examples():
    return [_render(i) for i in range(60)]


def test_parts_tile_the_object_and_match_boxes(examples):
    twos, areas = 0, []
    for ex in examples:
        assert ex.part_labels.shape == ex.instance_masks.shape
        for box, mask, labels, head in zip(
            ex.boxes, ex.instance_masks, ex.part_labels, ex.part_masks
        ):
            ys, xs = np.nonzero(mask)
            assert list(box) == [xs.min(), ys.min(), xs.max(), ys.max()]
            assert ((labels > 0) == mask).all()  # parts tile the object
            assert (head == (labels == PART["head"])).all()
            for name in ("head", "body", "wings", "tail"):
                assert (labels == PART[name]).sum() > 10, name
        union = ex.instance_masks.any(0)
        assert not (ex.ignore_mask & union).any()
        areas.append(union.sum() / union.size)
        if len(ex.boxes) == 2:
            twos += 1
            a, b = ex.boxes
            assert a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]
        assert 1 <= len(ex.boxes) <= 2
    assert 2 <= twos <= 20  # about 15 % of the images hold two objects
    # Large objects: the median object covers about a fifth of its image.
    assert 0.15 < np.median(areas) < 0.3, np.median(areas)
    assert 0.1 < np.percentile(areas, 10) and np.percentile(areas, 90) < 0.4


def test_head_is_a_small_part_and_is_painted_as_its_class(examples):
    shares = []
    for ex in examples:
        colour = np.array(head_style(ex.label)[0])
        for mask, head in zip(ex.instance_masks, ex.part_masks):
            shares.append(head.sum() / mask.sum())
            pixels = ex.image[head].astype(int)
            assert (np.abs(pixels - colour).sum(-1) == 0).mean() > 0.4
    # A few % of the object (the designed bound keeps it under 8 %).
    assert 0.015 < min(shares) and max(shares) < 0.08, (
        min(shares),
        max(shares),
    )
    assert 0.03 < np.median(shares) < 0.06


def test_background_holds_no_head_and_no_body_texture(examples, monkeypatch):
    # No background pixel has a head colour (heads are solid palette
    # colours; clutter colours are drawn from a continuum).
    for ex in examples:
        background = ~ex.instance_masks.any(0) & ~ex.ignore_mask
        pixels = ex.image[background].astype(int)
        for colour in PALETTE:
            assert not (np.abs(pixels - colour).sum(-1) == 0).any()
        kinds = set(ex.background_kinds)
        assert not kinds & set(synthetic_birds.BODY_FAMILIES)
        assert kinds <= {
            "colour_field",
            *synthetic_birds.CONTEXT_KINDS,
            *synthetic_birds.CLUTTER_KINDS,
        }
    # Body textures are drawn once per object and nowhere else.
    calls = []
    texture = synthetic_birds._body_texture

    def spy(rng, family, u, v, period):
        calls.append(family)
        return texture(rng, family, u, v, period)

    monkeypatch.setattr(synthetic_birds, "_body_texture", spy)
    for index in range(20):
        ex = _render(index)
        assert len(calls) == len(ex.boxes)
        assert calls == [
            synthetic_birds.plumage(s["body"])[0] for s in ex.styles
        ]
        calls.clear()


def test_background_labels_mark_what_painted_each_pixel(monkeypatch):
    # Each painter's pixels read off the image itself: those it changed.
    painted = {}
    context, clutter = synthetic_birds._context, synthetic_render.clutter

    def spy(name, painter):
        def paint(rng, image, *args):
            before = image.copy()
            out = painter(rng, image, *args)
            painted[name] = (image != before).any(-1)
            return out

        return paint

    monkeypatch.setattr(synthetic_birds, "_context", spy("ground", context))
    monkeypatch.setattr(synthetic_render, "clutter", spy("clutter", clutter))
    for i in range(12):
        ex = _render(i)
        labels = ex.background_labels
        assert labels.shape == ex.image.shape[:2]
        names = synthetic_birds.BACKGROUND_LABELS
        clutter_px = labels == names.index("clutter")
        ground_px = labels == names.index("ground")
        # Changed pixels lie in their label (clutter goes over the ground);
        # a patch pixel may keep its colour, hardly ever.
        assert not (painted["clutter"] & ~clutter_px).any()
        assert (painted["clutter"] | ~clutter_px).mean() > 0.99
        assert not (painted["ground"] & ~(ground_px | clutter_px)).any()
        assert painted["ground"][ground_px].mean() > 0.99
        assert (labels == 0).any() and ground_px.any() and clutter_px.any()


def test_larger_parts_correlate_with_the_class_at_body_rate():
    def own_share(rate, n=80):
        own, total = 0, 0
        for index in range(n):
            ex = _render(index, split="train", body_rate=rate)
            for style in ex.styles:
                own += sum(style[p] == ex.label for p in style)
                total += len(style)
        return own / total

    assert own_share(1.0, 20) == 1.0
    assert own_share(0.0, 20) == 0.0
    share = own_share(0.6)
    assert abs(share - 0.6) < 0.08, share  # ~270 draws: 3 sigma ~ 0.09
    share = own_share(synthetic_birds.BODY_RATE)
    assert abs(share - 0.9) < 0.06, share  # 3 sigma ~ 0.055


def _gains(dark, hue):
    """Per-channel gain of a dark-tone pixel (0.5 x gain x hue)."""
    return dark / (0.5 * np.asarray(hue, float))


def test_parts_are_painted_in_the_drawn_plumage(examples):
    for ex in examples[:30]:
        for labels, style in zip(ex.part_labels, ex.styles):
            _, body_rgb, wing_rgb, tail_rgb = synthetic_birds.plumage(
                style["body"]
            )
            tail = ex.image[labels == PART["tail"]].astype(int)
            expected = synthetic_birds.plumage(style["tail"])[3]
            assert (tail == expected).all()
            wing = ex.image[labels == PART["wings"]].astype(int)
            expected = synthetic_birds.plumage(style["wings"])[2]
            assert ((wing == expected).all(-1)).mean() > 0.3
            # Body: tones between dark = 0.5 x g x hue and light, one gain
            # g in [0.9, 1.1]; every texture reaches (nearly) the dark tone.
            body = ex.image[labels == PART["body"]].astype(float)
            dark = body[np.argmin(body.sum(-1))]
            gains = _gains(dark, body_rgb)
            assert 0.87 < gains.min() and gains.max() < 1.13, gains
            assert gains.max() - gains.min() < 0.07, gains
            others = [
                h for h in synthetic_birds.BODY_HUES if h != tuple(body_rgb)
            ]
            assert all(np.ptp(_gains(dark, h)) > 0.07 for h in others)


def test_context_band_correlates_at_context_rate():
    def own(rate, n=80):
        return np.mean(
            [
                _render(i, split="val", context_rate=rate).background_kinds[1]
                == synthetic_birds.CONTEXT_KINDS[i % 4]
                for i in range(n)
            ]
        )

    assert own(1.0, 20) == 1.0
    # rate + (1 - rate) / 4: 0.4 at 0.2, 0.25 at 0 (80 draws: sigma 0.055).
    assert abs(own(synthetic_birds.CONTEXT_RATE) - 0.4) < 0.17
    assert abs(own(0.0) - 0.25) < 0.16


def test_part_pngs_on_disk_match_the_renderer(tmp_path):
    tiny = dict(
        num_classes=2, train_per_class=1, val_per_class=1, test_per_class=2
    )
    root = generate_synthetic_dataset(
        str(tmp_path / "d"), image_size=64, seed=3, **tiny
    )
    with open(os.path.join(root, "synthetic.json")) as f:
        settings = json.load(f)
    masks = read_metadata(
        os.path.join(root, "metadata", "SYNTHETIC_PXAP"), "test", root
    )
    for index, image_id in enumerate(masks.image_ids):
        parts = read_part_masks(root, image_id)
        ex = render_from_settings(settings, "test", index, index // 2)
        assert (parts == ex.part_labels.max(0)).all()
        paths, _ = masks.masks[image_id]
        union = np.any(
            [cv2.imread(masks.path(p), cv2.IMREAD_GRAYSCALE) for p in paths],
            axis=0,
        )
        assert ((parts > 0) == union).all()
    train_id = read_metadata(
        os.path.join(root, "metadata", "SYNTHETIC"), "train", root
    ).image_ids[0]
    assert read_part_masks(root, train_id) is None  # val / test only
    with pytest.raises(ValueError, match="image_id='x.jpg'"):
        read_part_masks(root, "x.jpg")


def test_default_dataset_name_is_birds(tmp_path):
    cfg = dict(
        cache_dir=str(tmp_path),
        synthetic_num_classes=2,
        synthetic_train_per_class=1,
        synthetic_val_per_class=1,
        synthetic_test_per_class=1,
        synthetic_image_size=48,
    )
    data = resolve_dataset(DataConfig(**cfg))
    assert os.path.basename(data.data_root) == (
        "synthetic_birds_v2_c2_n1-1-1_s48_seed0"
    )
    assert data.num_classes == 2
    with pytest.raises(ValueError, match="synthetic_distractor_heads"):
        resolve_dataset(DataConfig(synthetic_distractor_heads=0.0, **cfg))


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(style="cats"), "Received: style='cats'"),
        (dict(num_classes=25), "num_classes <= 24"),
        (dict(head_scale=2.5), "head_scale <= 2.0"),
        (dict(head_scale=0.0), "0.0 < head_scale"),
        (dict(body_rate=1.5), "body_rate <= 1.0"),
        (dict(context_rate=-0.1), "Received: context_rate=-0.1"),
        (dict(distractor_heads=0.2), "distractor_heads does not apply"),
    ],
)
def test_bad_settings_raise(bad, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        generate_synthetic_dataset(str(tmp_path / "x"), **bad)
    assert not os.path.exists(tmp_path / "x")


def test_plumage_styles():
    styles = [synthetic_birds.plumage(k)[:2] for k in range(24)]
    assert len(set(styles)) == synthetic_birds.MAX_CLASSES == 24
    first = [synthetic_birds.plumage(k) for k in range(4)]
    for attribute in range(4):
        assert len({p[attribute] for p in first}) == 4
    with pytest.raises(ValueError, match="Received: style_class=24"):
        synthetic_birds.plumage(24)


@pytest.mark.large
def test_default_set_generates_in_under_30_seconds(tmp_path):
    start = time.perf_counter()
    generate_synthetic_dataset(str(tmp_path / "d"))
    assert time.perf_counter() - start < 30


@pytest.mark.parametrize("style", ["birds", "heads"])
def test_part_label_map_re_renders_any_split(style, tmp_path):
    root = generate_synthetic_dataset(
        str(tmp_path / style),
        style=style,
        num_classes=2,
        train_per_class=1,
        val_per_class=1,
        test_per_class=2,
        image_size=48,
        seed=5,
    )
    for split in ("train", "test"):
        meta = read_metadata(
            os.path.join(root, "metadata", "SYNTHETIC"), split, root
        )
        for image_id in meta.image_ids:
            label = meta.labels[image_id]
            labels = part_label_map(root, split, image_id, label)
            width, height = meta.sizes[image_id]
            assert labels.shape == (height, width)
            ys, xs = np.nonzero(labels > 0)
            boxes = meta.boxes[image_id]
            assert xs.min() == min(b[0] for b in boxes)
            assert ys.max() == max(b[3] for b in boxes)
            assert (labels == 1).sum() > 0
            on_disk = read_part_masks(root, image_id)
            if split == "test" and style == "birds":
                assert (on_disk == labels).all()
            else:
                assert on_disk is None


def test_class_offset_gives_disjoint_class_looks_with_the_same_labels():
    # Class k of an offset set looks like generator class k + offset: its
    # head colour is that class's, the label stays k, and the default set
    # (offset 0) never shows those heads.
    offset, k = 4, 1
    ex = render_birds_image(
        7, "train", 3, k, num_classes=4, image_size=128, class_offset=offset
    )
    assert ex.label == k
    colour = np.asarray(head_style(k + offset)[0])
    head = ex.part_labels.max(0) == 1
    # Most head pixels carry the offset class's head colour (the pattern
    # covers the rest), none of the own-class colour at offset 0.
    near = np.abs(ex.image[head].astype(int) - colour).max(-1) <= 8
    assert near.mean() > 0.4
    styles = [s for style in ex.styles for s in style.values()]
    assert all(offset <= s <= offset + 3 for s in styles)
    plain = render_birds_image(7, "train", 3, k, num_classes=4, image_size=128)
    assert (plain.image != ex.image).any()
    with pytest.raises(ValueError, match="class_offset"):
        render_birds_image(
            0, "train", 0, 0, num_classes=4, image_size=64, class_offset=21
        )


def _tiny_set(tmp_path, **changes):
    """A DataConfig of a 2-class set with one image per split and class."""
    return DataConfig(
        cache_dir=str(tmp_path),
        synthetic_num_classes=2,
        synthetic_train_per_class=1,
        synthetic_val_per_class=1,
        synthetic_test_per_class=1,
        synthetic_image_size=64,
        **changes,
    )


def test_class_offset_setting_reaches_the_generated_set(tmp_path):
    cfg = _tiny_set(tmp_path)
    plain = resolve_dataset(cfg).data_root
    shifted = resolve_dataset(cfg.replace(synthetic_class_offset=5)).data_root
    assert shifted != plain and shifted.endswith("_o5")
    with open(os.path.join(shifted, "synthetic.json")) as f:
        assert json.load(f)["class_offset"] == 5


def _kinds_by_colour(layout, looks):
    """{head colour index: sorted kinds} of generator classes `looks`."""
    out = {}
    for look in looks:
        colour = PALETTE.index(head_style(look)[0])
        kind = synthetic_birds.evidence_kind(look, 3, layout)
        out.setdefault(colour, []).append(kind)
    return {c: sorted(k) for c, k in sorted(out.items())}


def test_cyclic_layout_ties_the_head_only_kind_to_two_colours():
    # Classes 4..23 (the pretraining's source): class % 3 == 0 decides by
    # the head alone, and class % 6 is the head colour.
    got = _kinds_by_colour(0, range(4, 24))
    assert [c for c, kinds in got.items() if "part" in kinds] == [0, 3]
    assert [c for c, kinds in got.items() if "both" in kinds] == [2, 5]
    assert [synthetic_birds.evidence_kind(k, 3) for k in range(4)] == [
        "part",
        "plumage",
        "both",
        "part",
    ]


def test_balanced_layout_decides_every_head_colour_in_every_way():
    got = _kinds_by_colour(1, range(4, 22))  # 18 consecutive classes
    assert got == {c: ["both", "part", "plumage"] for c in range(6)}
    # (class + class // 6) % 3, written out for classes 4..9.
    assert [synthetic_birds.evidence_kind(k, 3, 1) for k in range(4, 10)] == [
        "plumage",
        "both",
        "plumage",
        "both",
        "part",
        "plumage",
    ]
    assert synthetic_birds.evidence_kind(9, 1, 1) == "part"  # 1 kind: head
    with pytest.raises(ValueError, match="Received: evidence_layout=2"):
        synthetic_birds.evidence_kind(0, 3, 2)


def test_evidence_layout_renders_the_kind_it_names():
    # Class 6 (offset 4, label 2): "part" in the cyclic layout (its own red
    # head), "plumage" in the balanced one (a neutral head of no class).
    def head_colour_share(layout):
        ex = render_birds_image(
            3,
            "train",
            5,
            2,
            num_classes=20,
            image_size=128,
            class_offset=4,
            evidence_kinds=3,
            evidence_layout=layout,
        )
        head = ex.part_labels.max(0) == 1
        red = np.asarray(head_style(6)[0])
        return (np.abs(ex.image[head].astype(int) - red).max(-1) <= 8).mean()

    assert head_colour_share(0) > 0.4
    assert head_colour_share(1) == 0.0
    # Layout 0 is the default: the same image as before the setting existed.
    kwargs = dict(num_classes=20, image_size=96, class_offset=4)
    kwargs.update(evidence_kinds=3)
    a = render_birds_image(1, "val", 2, 7, **kwargs)
    b = render_birds_image(1, "val", 2, 7, evidence_layout=0, **kwargs)
    assert (a.image == b.image).all()


def test_evidence_layout_setting_reaches_the_generated_set(tmp_path):
    cfg = _tiny_set(tmp_path, synthetic_evidence_kinds=3)
    root = resolve_dataset(cfg.replace(synthetic_evidence_layout=1)).data_root
    assert root.endswith("_e3_l1")
    with open(os.path.join(root, "synthetic.json")) as f:
        assert json.load(f)["evidence_layout"] == 1
    with pytest.raises(ValueError, match="evidence_layout"):
        generate_synthetic_dataset(
            str(tmp_path / "x"), evidence_kinds=3, evidence_layout=3
        )
