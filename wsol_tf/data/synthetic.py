"""The embedded synthetic WSOL dataset: deterministic, seeded, CUB-like.

Design (difficulty modelled on CUB-200):

- Every object is a large **body** (an ellipse with a tail; random size,
  aspect, rotation and position) filled with a two-tone scale texture that
  is **shared by all classes**, plus a small **head** (the part) attached
  at one end of the body. The head alone decides the class: its colour,
  shape and pattern (`synthetic_render.head_style`; classes 0-3 differ in
  all three). The head covers about 2-8% of the object's pixels (designed
  bound: < 15%), so a plain CAM classifier finds the head while the whole
  object is what has to be localised.
- Backgrounds are cluttered: a smooth random colour field, 8-14 patches of
  stripes / checkers / dots in random colours, 1-3 smaller **body-texture
  blobs** (look-alikes of bodies without a head) and, in 40% of the images,
  a **head of another class** lying away from the objects. Local evidence
  in the background is therefore misleading.
- 20% of the images hold two objects of the same class (two boxes, two
  instance masks). Image sizes vary in `[0.8, 1.2] x image_size` per side,
  so the protocol's box rescaling is exercised.

Layout written under `root` (the data root; image ids are relative to it):

    images/<split>/<class:03d>/<split>_<index:05d>.jpg
    masks/<split>/<class:03d>/<split>_<index:05d>_m<k>.png   (val, test)
    masks/<split>/<class:03d>/<split>_<index:05d>_ignore.png (val, test)
    metadata/SYNTHETIC/<split>/{image_ids,class_labels,image_sizes,
        localization}.txt          boxes, CUB style, for train/val/test
    metadata/SYNTHETIC_PXAP/<split>/...   same images, OpenImages-style
        mask lines for val/test (PxAP); train has no localization.txt
    synthetic.json                 generator settings and version

Splits: train (labels; boxes written too, as CUB), val (train-fullsup) and
test. The ignore PNG marks a 1-pixel band around the objects (JPEG blurs
edges). Every image is rendered from its own seed
`(seed, split index, image index)`, so files do not depend on the order of
generation, and equal settings give byte-identical files.
"""

import json
import os
import shutil
import tempfile

import cv2
import numpy as np

from wsol_tf.data import synthetic_render

GENERATOR_VERSION = 1
SPLITS = ("train", "val", "test")
BOXES_DIR = os.path.join("metadata", "SYNTHETIC")
MASKS_DIR = os.path.join("metadata", "SYNTHETIC_PXAP")
_JPEG_QUALITY = 90
MAX_HEAD_SCALE = 3.0  # keeps the head under ~7 % of the object


def _write_text(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines))  # no final newline, as wsolevaluation


def _write_image(path, array, ext):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY] if ext == ".jpg" else []
    ok, data = cv2.imencode(ext, array, params)
    if not ok:
        raise OSError(f"Could not encode {path}")
    with open(path, "wb") as f:
        f.write(data.tobytes())


def render_image(
    seed,
    split,
    index,
    class_id,
    *,
    num_classes,
    image_size,
    head_scale=1.0,
    distractor_heads=synthetic_render.DISTRACTOR_HEAD_PROBABILITY,
):
    """Renders image `index` of `split` exactly as the generator does.

    Returns:
        A `synthetic_render.Example` (image RGB uint8 [H, W, 3], label,
        boxes int [N, 4] inclusive, instance_masks / part_masks bool
        [N, H, W], distractor_head_mask, ignore_mask bool [H, W]).
    """
    rng = np.random.default_rng([seed, SPLITS.index(split), index])
    width, height = (
        int(round(image_size * f)) for f in rng.uniform(0.8, 1.2, size=2)
    )
    return synthetic_render.render_example(
        rng,
        class_id,
        num_classes,
        width,
        height,
        head_scale=head_scale,
        distractor_head_probability=distractor_heads,
    )


def _write_split(root, split, per_class, seed, render_options):
    """Writes one split; `render_options`: keyword args of render_image."""
    num_classes = render_options["num_classes"]
    ids, labels, sizes, boxes, masks = [], [], [], [], []
    index = 0
    for class_id in range(num_classes):
        for _ in range(per_class):
            stem = f"{split}/{class_id:03d}/{split}_{index:05d}"
            image_id = f"images/{stem}.jpg"
            ex = render_image(seed, split, index, class_id, **render_options)
            height, width = ex.image.shape[:2]
            _write_image(
                os.path.join(root, image_id), ex.image[..., ::-1], ".jpg"
            )
            ids.append(image_id)
            labels.append(f"{image_id},{class_id}")
            sizes.append(f"{image_id},{width},{height}")
            boxes.extend(
                f"{image_id},{x0},{y0},{x1},{y1}" for x0, y0, x1, y1 in ex.boxes
            )
            if split != "train":
                ignore = f"masks/{stem}_ignore.png"
                _write_image(
                    os.path.join(root, ignore),
                    ex.ignore_mask.astype(np.uint8) * 255,
                    ".png",
                )
                for k, instance in enumerate(ex.instance_masks):
                    mask = f"masks/{stem}_m{k}.png"
                    _write_image(
                        os.path.join(root, mask),
                        instance.astype(np.uint8) * 255,
                        ".png",
                    )
                    masks.append(
                        f"{image_id},{mask},{ignore if k == 0 else ''}"
                    )
            index += 1
    for meta_dir, localization in ((BOXES_DIR, boxes), (MASKS_DIR, masks)):
        split_dir = os.path.join(root, meta_dir, split)
        _write_text(os.path.join(split_dir, "image_ids.txt"), ids)
        _write_text(os.path.join(split_dir, "class_labels.txt"), labels)
        _write_text(os.path.join(split_dir, "image_sizes.txt"), sizes)
        if localization:  # no masks for train: as OpenImages train
            path = os.path.join(split_dir, "localization.txt")
            _write_text(path, localization)


def _settings(
    num_classes,
    train_per_class,
    val_per_class,
    test_per_class,
    image_size,
    seed,
    head_scale=1.0,
    distractor_heads=synthetic_render.DISTRACTOR_HEAD_PROBABILITY,
):
    if not 1 <= num_classes <= synthetic_render.MAX_CLASSES:
        raise ValueError(
            f"Expected 1 <= num_classes <= {synthetic_render.MAX_CLASSES}. "
            f"Received: num_classes={num_classes}"
        )
    if image_size < 32:
        raise ValueError(
            f"Expected image_size >= 32. Received: image_size={image_size}"
        )
    for name, value in (
        ("train_per_class", train_per_class),
        ("val_per_class", val_per_class),
        ("test_per_class", test_per_class),
    ):
        if value < 1:
            raise ValueError(f"Expected {name} >= 1. Received: {name}={value}")
    if not 0.0 < head_scale <= MAX_HEAD_SCALE:
        raise ValueError(
            f"Expected 0 < head_scale <= {MAX_HEAD_SCALE}. "
            f"Received: head_scale={head_scale}"
        )
    if not 0.0 <= distractor_heads <= 1.0:
        raise ValueError(
            "Expected 0 <= distractor_heads <= 1. "
            f"Received: distractor_heads={distractor_heads}"
        )
    settings = dict(
        generator_version=GENERATOR_VERSION,
        num_classes=int(num_classes),
        train_per_class=int(train_per_class),
        val_per_class=int(val_per_class),
        test_per_class=int(test_per_class),
        image_size=int(image_size),
        seed=int(seed),
    )
    # Recorded only when changed: the default dataset keeps its name and
    # its synthetic.json.
    if head_scale != 1.0:
        settings["head_scale"] = float(head_scale)
    if distractor_heads != synthetic_render.DISTRACTOR_HEAD_PROBABILITY:
        settings["distractor_heads"] = float(distractor_heads)
    return settings


def generate_synthetic_dataset(
    root,
    *,
    num_classes=4,
    train_per_class=64,
    val_per_class=8,
    test_per_class=16,
    image_size=128,
    seed=0,
    head_scale=1.0,
    distractor_heads=synthetic_render.DISTRACTOR_HEAD_PROBABILITY,
    overwrite=False,
):
    """Writes the synthetic dataset to `root`, atomically.

    Files are written into a temporary sibling directory that is renamed to
    `root` when complete, so a reader never sees a half-written dataset.

    Args:
        root: output directory (the data root). Must not exist, unless
            `overwrite`.
        num_classes: number of classes (1-96).
        train_per_class, val_per_class, test_per_class: images per class.
        image_size: nominal image side; each side is drawn in
            `[0.8, 1.2] x image_size`.
        seed: generator seed; equal settings give identical files.
        head_scale: multiplies the head (part) area bounds
            `synthetic_render.HEAD_FRACTION` (0.045-0.08 of the body
            ellipse's a * b at 1.0). Larger heads make the classes easier
            to learn from scratch (the quality benchmark uses 2.0); at most
            `MAX_HEAD_SCALE`.
        distractor_heads: probability of a head of another class in the
            background (0.4: the CUB-like default).
        overwrite: replace an existing `root`.

    Returns:
        `root`. Box metadata is at `root/metadata/SYNTHETIC`, mask metadata
        at `root/metadata/SYNTHETIC_PXAP`.

    Example:

    >>> root = generate_synthetic_dataset("/tmp/synthetic", seed=0)
    >>> meta = read_metadata(root + "/metadata/SYNTHETIC", "test", root)
    """
    settings = _settings(
        num_classes,
        train_per_class,
        val_per_class,
        test_per_class,
        image_size,
        seed,
        head_scale,
        distractor_heads,
    )
    root = os.path.abspath(os.fspath(root))
    if os.path.exists(root) and not overwrite:
        raise ValueError(
            f"Output directory exists; pass overwrite=True to replace it. "
            f"Received: root={root!r}"
        )
    parent = os.path.dirname(root)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-synthetic-", dir=parent)
    try:
        per_split = dict(
            train=train_per_class, val=val_per_class, test=test_per_class
        )
        render_options = dict(
            num_classes=num_classes,
            image_size=image_size,
            head_scale=head_scale,
            distractor_heads=distractor_heads,
        )
        for split in SPLITS:
            _write_split(tmp, split, per_split[split], seed, render_options)
        _write_text(
            os.path.join(tmp, "synthetic.json"),
            [json.dumps(settings, indent=2, sort_keys=True)],
        )
        if overwrite and os.path.exists(root):
            shutil.rmtree(root)
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def ensure_synthetic_dataset(cache_dir, **settings):
    """Returns the cached dataset for `settings`, generating it once.

    The directory name encodes the generator version and every setting, so
    different settings never share a directory. When two processes generate
    at once, the first rename wins and the other reuses its result.
    """
    s = _settings(**settings)
    name = (
        f"synthetic_v{s['generator_version']}_c{s['num_classes']}"
        f"_n{s['train_per_class']}-{s['val_per_class']}-{s['test_per_class']}"
        f"_s{s['image_size']}_seed{s['seed']}"
    )
    if "head_scale" in s:
        name += f"_h{s['head_scale']:g}"
    if "distractor_heads" in s:
        name += f"_d{s['distractor_heads']:g}"
    root = os.path.join(os.path.abspath(os.path.expanduser(cache_dir)), name)
    if os.path.isfile(os.path.join(root, "synthetic.json")):
        return root
    try:
        generate_synthetic_dataset(root, **settings)
    except (ValueError, OSError):
        # Another process finished first (os.replace onto a non-empty
        # directory fails): reuse its complete result.
        if not os.path.isfile(os.path.join(root, "synthetic.json")):
            raise
    return root
