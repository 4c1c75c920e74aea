"""The embedded synthetic WSOL datasets: deterministic, seeded, CUB-like.

Two styles, each a dataset name (`wsol_tf.data.resolve_dataset`):

- **"birds"** (dataset_name "synthetic", the default;
  `synthetic_birds.py`): one large bird-like object (15 %: two smaller
  ones) with parts head, body, wings and tail. Class evidence is graded as
  on CUB: the small head (about 3-7 % of the object's pixels) alone decides
  the class; the body texture / hue, the wing colour and the tail colour
  show the class's plumage with probability `body_rate` (0.9) and another
  class's otherwise, so they correlate with the class without deciding
  it. The background (colour field, clutter patches, a ground band) holds
  no body texture family and no head; the ground band is the class's own
  context kind at rate `context_rate` (0.2) and a random kind otherwise.
  Val / test images also get a part label PNG (`read_part_masks`).
- **"heads"** (dataset_name "synthetic_heads"; `synthetic_render.py`):
  the first synthetic set, kept byte-identical. Every object is a body
  with a texture **shared by all classes** plus a small head that alone
  decides the class; backgrounds hold headless body-texture blobs and, in
  40 % of the images, a head of another class.

Image sizes vary in `[0.8, 1.2] x image_size` per side, so the protocol's
box rescaling is exercised.

Layout written under `root` (the data root; image ids are relative to it):

    images/<split>/<class:03d>/<split>_<index:05d>.jpg
    masks/<split>/<class:03d>/<split>_<index:05d>_m<k>.png   (val, test)
    masks/<split>/<class:03d>/<split>_<index:05d>_ignore.png (val, test)
    masks/<split>/<class:03d>/<split>_<index:05d>_parts.png  (birds: val,
        test; pixel value = index into PART_NAMES, union of the objects)
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

import numpy as np

from wsol_tf.config import DataConfig
from wsol_tf.data import synthetic_birds
from wsol_tf.data import synthetic_files
from wsol_tf.data import synthetic_render

GENERATOR_VERSION = 1  # of the "heads" style
BIRDS_VERSION = 2  # 2: body_rate 0.9 by default (1: 0.6, same draws)
STYLES = ("birds", "heads")
SPLITS = ("train", "val", "test")
BOXES_DIR = synthetic_files.BOXES_DIR
MASKS_DIR = synthetic_files.MASKS_DIR
PART_NAMES = synthetic_birds.PART_NAMES
read_part_masks = synthetic_files.read_part_masks
MAX_HEAD_SCALE = 3.0  # heads style: keeps the head under ~7 % of the object
# Style-specific settings and their defaults (None in the API = default).
_STYLE_OPTIONS = {
    "heads": {"distractor_heads": synthetic_render.DISTRACTOR_HEAD_PROBABILITY},
    "birds": {
        "body_rate": synthetic_birds.BODY_RATE,
        "context_rate": synthetic_birds.CONTEXT_RATE,
        "class_offset": 0,
        "evidence_kinds": 1,
        "evidence_layout": 0,
    },
}
# Style options that are integers (the others are probabilities in [0, 1]).
_INT_OPTIONS = ("class_offset", "evidence_kinds", "evidence_layout")


def _render(renderer, seed, split, index, class_id, image_size, **options):
    rng = np.random.default_rng([seed, SPLITS.index(split), index])
    width, height = (
        int(round(image_size * f)) for f in rng.uniform(0.8, 1.2, size=2)
    )
    return renderer(rng, class_id, width=width, height=height, **options)


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
    """Renders image `index` of `split` of the "heads" style, as written.

    Returns:
        A `synthetic_render.Example` (image RGB uint8 [H, W, 3], label,
        boxes int [N, 4] inclusive, instance_masks / part_masks bool
        [N, H, W], distractor_head_mask, ignore_mask bool [H, W]).
    """
    return _render(
        synthetic_render.render_example,
        seed,
        split,
        index,
        class_id,
        image_size,
        num_classes=num_classes,
        head_scale=head_scale,
        distractor_head_probability=distractor_heads,
    )


def render_birds_image(
    seed,
    split,
    index,
    class_id,
    *,
    num_classes,
    image_size,
    head_scale=1.0,
    body_rate=synthetic_birds.BODY_RATE,
    context_rate=synthetic_birds.CONTEXT_RATE,
    class_offset=0,
    evidence_kinds=1,
    evidence_layout=0,
):
    """Renders image `index` of `split` of the "birds" style, as written.

    Returns:
        A `synthetic_birds.BirdExample`: as `render_image`'s Example, with
        `part_labels` uint8 [N, H, W] (values index `PART_NAMES`), the
        style class each larger part was drawn from, and the names of the
        background's ingredients instead of distractor heads.
    """
    return _render(
        synthetic_birds.render_birds_example,
        seed,
        split,
        index,
        class_id,
        image_size,
        num_classes=num_classes,
        head_scale=head_scale,
        body_rate=body_rate,
        context_rate=context_rate,
        class_offset=class_offset,
        evidence_kinds=evidence_kinds,
        evidence_layout=evidence_layout,
    )


def render_from_settings(settings, split, index, class_id):
    """Renders one image from a dataset's `synthetic.json` settings."""
    options = {
        k: settings[k]
        for k in ("num_classes", "image_size", "head_scale")
        if k in settings
    }
    style = settings.get("style", "heads")
    options.update(
        (k, settings[k]) for k in _STYLE_OPTIONS[style] if k in settings
    )
    render = render_birds_image if style == "birds" else render_image
    return render(settings["seed"], split, index, class_id, **options)


def render_from_image_id(data_root, split, image_id, class_id):
    """Re-renders any image of a generated synthetic set, with its labels.

    The generator is deterministic and `data_root/synthetic.json` holds its
    settings, so an image id names everything the generator drew (part
    labels, and for "birds" the plumage each part was drawn from).

    Args:
        data_root: the dataset's root (holds synthetic.json).
        split: "train", "val" or "test".
        image_id: e.g. "images/test/001/test_00012.jpg".
        class_id: the image's label.

    Returns:
        The example, as `render_from_settings` returns it.
    """
    with open(os.path.join(data_root, "synthetic.json")) as f:
        settings = json.load(f)
    stem = os.path.splitext(os.path.basename(image_id))[0]
    return render_from_settings(
        settings, split, int(stem.rsplit("_", 1)[1]), class_id
    )


def part_label_map(data_root, split, image_id, class_id):
    """Part labels of any image of a generated synthetic set, re-rendered.

    Works for both styles and every split; arguments as
    `render_from_image_id`. The part-share metric's source of head and
    object masks.

    Returns:
        uint8 [H, W], values indexing `PART_NAMES` (union of the objects).
        "heads" images have only head (1) and the rest of the object (2).
    """
    ex = render_from_image_id(data_root, split, image_id, class_id)
    if hasattr(ex, "part_labels"):
        return ex.part_labels.max(axis=0)
    labels = ex.instance_masks.any(0).astype(np.uint8) * 2
    labels[ex.part_masks.any(0)] = 1
    return labels


def _check_range(name, value, low, high, low_open=False):
    if not ((low < value) if low_open else (low <= value)) or value > high:
        bracket = "<" if low_open else "<="
        raise ValueError(
            f"Expected {low} {bracket} {name} <= {high}. "
            f"Received: {name}={value}"
        )


def _settings(
    num_classes,
    train_per_class,
    val_per_class,
    test_per_class,
    image_size,
    seed,
    head_scale=1.0,
    style="birds",
    **options,
):
    """Checked settings dict of one dataset (what synthetic.json holds).

    `options`: the style's own settings (`_STYLE_OPTIONS`); None or absent
    means the style's default.
    """
    if style not in STYLES:
        raise ValueError(
            f"Expected style in {STYLES}. Received: style={style!r}"
        )
    known = _STYLE_OPTIONS[style]
    for name, value in options.items():
        if name not in known and value is not None:
            raise ValueError(
                f"Setting {name} does not apply to the {style!r} synthetic "
                f"style (its settings: {', '.join(known)}). "
                f"Received: {name}={value}"
            )
    options = {
        k: known[k]
        if options.get(k) is None
        else (int if k in _INT_OPTIONS else float)(options[k])
        for k in known
    }
    renderer = synthetic_birds if style == "birds" else synthetic_render
    _check_range("num_classes", num_classes, 1, renderer.MAX_CLASSES)
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
    max_head = MAX_HEAD_SCALE if style == "heads" else renderer.MAX_HEAD_SCALE
    _check_range("head_scale", head_scale, 0.0, max_head, low_open=True)
    for name, value in options.items():
        if name == "class_offset":
            _check_range(name, value, 0, renderer.MAX_CLASSES - num_classes)
        elif name == "evidence_kinds":
            synthetic_birds.evidence_kind(0, value)  # 1 or 3, else raises
        elif name == "evidence_layout":
            synthetic_birds.evidence_kind(0, 3, value)  # 0 or 1, else raises
        else:
            _check_range(name, value, 0.0, 1.0)
    settings = dict(
        generator_version=GENERATOR_VERSION,
        num_classes=int(num_classes),
        train_per_class=int(train_per_class),
        val_per_class=int(val_per_class),
        test_per_class=int(test_per_class),
        image_size=int(image_size),
        seed=int(seed),
    )
    if style == "birds":
        settings.update(
            generator_version=BIRDS_VERSION,
            style=style,
            head_scale=float(head_scale),
            **options,
        )
        return settings
    # heads: recorded only when changed, so that the first set keeps its
    # directory name and its synthetic.json.
    if head_scale != 1.0:
        settings["head_scale"] = float(head_scale)
    if options["distractor_heads"] != known["distractor_heads"]:
        settings["distractor_heads"] = options["distractor_heads"]
    return settings


# The set's sizes and seed default to the run settings' (one place).
_DEFAULTS = DataConfig()


def generate_synthetic_dataset(
    root,
    *,
    style="birds",
    num_classes=_DEFAULTS.synthetic_num_classes,
    train_per_class=_DEFAULTS.synthetic_train_per_class,
    val_per_class=_DEFAULTS.synthetic_val_per_class,
    test_per_class=_DEFAULTS.synthetic_test_per_class,
    image_size=_DEFAULTS.synthetic_image_size,
    seed=_DEFAULTS.synthetic_seed,
    head_scale=_DEFAULTS.synthetic_head_scale,
    body_rate=None,
    context_rate=None,
    class_offset=None,
    evidence_kinds=None,
    evidence_layout=None,
    distractor_heads=None,
    overwrite=False,
    progress=None,
):
    """Writes a synthetic dataset to `root`, atomically.

    Files are written into a temporary sibling directory that is renamed to
    `root` when complete, so a reader never sees a half-written dataset.

    Args:
        root: output directory (the data root). Must not exist, unless
            `overwrite`.
        style: "birds" (graded class evidence, the default) or "heads"
            (the first set: only the head carries class evidence).
        num_classes: number of classes (birds 1-24, heads 1-96).
        train_per_class, val_per_class, test_per_class: images per class.
        image_size: nominal image side; each side is drawn in
            `[0.8, 1.2] x image_size`.
        seed: generator seed; equal settings give identical files.
        head_scale: multiplies the head (part) area bounds `HEAD_FRACTION`
            of the style's renderer; at most 2 (birds) or 3 (heads).
        body_rate: birds only; probability that each larger part (body,
            wings, tail) shows the class's own plumage (default 0.6).
        context_rate: birds only; probability that the ground band is the
            class's own context kind (default 0.2; otherwise a uniformly
            random kind, which may also be its own).
        class_offset: birds only; the classes look like generator classes
            `class_offset ... class_offset + num_classes - 1` (default 0):
            a set of classes disjoint from the default set's, for the
            synthetic pretraining (`wsol_tf.training.pretrain`).
        evidence_kinds: birds only; 1 (default): every class is decided by
            its head; 3: classes decided by the head, by the plumage of
            the whole object, or by both, in turn
            (`synthetic_birds.evidence_kind`).
        evidence_layout: birds only, with 3 kinds; which classes get which
            kind: 0 (default) "cyclic", class k by kind k % 3; 1
            "balanced", every head colour in every kind
            (`synthetic_birds.EVIDENCE_LAYOUTS`).
        distractor_heads: heads only; probability of a head of another
            class in the background (default 0.4).
        overwrite: replace an existing `root`.
        progress: optional callable, called with no argument after each
            image is written (`num_classes` x the three per-class counts
            in all), e.g. a `keras.utils.Progbar`'s `lambda: bar.add(1)`.

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
        style,
        body_rate=body_rate,
        context_rate=context_rate,
        class_offset=class_offset,
        evidence_kinds=evidence_kinds,
        evidence_layout=evidence_layout,
        distractor_heads=distractor_heads,
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
        render = render_birds_image if style == "birds" else render_image
        render_options = dict(
            num_classes=num_classes,
            image_size=image_size,
            head_scale=head_scale,
        )
        render_options.update(
            (k, settings.get(k, v)) for k, v in _STYLE_OPTIONS[style].items()
        )
        for split in SPLITS:
            synthetic_files.write_split(
                tmp,
                split,
                per_split[split],
                seed,
                render,
                render_options,
                progress=progress,
            )
        synthetic_files.write_text(
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


def dataset_dir_name(settings):
    """The cache directory name of a `_settings` dict (one per setting)."""
    s = settings
    prefix = "synthetic_birds" if s.get("style") == "birds" else "synthetic"
    name = (
        f"{prefix}_v{s['generator_version']}_c{s['num_classes']}"
        f"_n{s['train_per_class']}-{s['val_per_class']}-{s['test_per_class']}"
        f"_s{s['image_size']}_seed{s['seed']}"
    )
    defaults = dict(head_scale=1.0, **_STYLE_OPTIONS[s.get("style", "heads")])
    tags = dict(
        head_scale="h",
        distractor_heads="d",
        body_rate="b",
        context_rate="x",
        class_offset="o",
        evidence_kinds="e",
        evidence_layout="l",
    )
    for key, default in defaults.items():
        if s.get(key, default) != default:
            name += f"_{tags[key]}{s[key]:g}"
    return name


def ensure_synthetic_dataset(cache_dir, **settings):
    """Returns the cached dataset for `settings`, generating it once.

    The directory name encodes the style, the generator version and every
    setting, so different settings never share a directory. When two
    processes generate at once, the first rename wins and the other reuses
    its result.
    """
    name = dataset_dir_name(_settings(**settings))
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
