"""Reader and validator of the wsolevaluation metadata layout.

`<metadata_root>/<split>/` holds plain comma-separated files (no header):

- `image_ids.txt`: `<image_id>` (a path relative to the data root);
- `class_labels.txt`: `<image_id>,<label>`;
- `image_sizes.txt`: `<image_id>,<W>,<H>` (may be empty or absent, as for
  OpenImages; sizes are then read from the images when boxes need them);
- `localization.txt` (may be absent, e.g. for a train split), either boxes
  `<image_id>,<x0>,<y0>,<x1>,<y1>` (inclusive integer pixels, one line per
  box) or OpenImages-style masks `<image_id>,<mask_png>[,<ignore_png>]`
  (one line per instance; only the first line of an image may name an
  ignore PNG, and it may be empty or missing, meaning "no ignore region").

This covers CUB, ILSVRC, OpenImages and any custom dataset written in the
same layout. Blank lines, a missing final newline, CRLF line ends and a
UTF-8 BOM are tolerated. Every problem is reported as `file:line: message`.
"""

import os

from wsol_tf.data.image_headers import image_size as header_size
from wsol_tf.data.metadata_labels import check_class_labels
from wsol_tf.data.metadata_labels import resolve_num_classes
from wsol_tf.data.metadata_parser import CLASS_LABELS
from wsol_tf.data.metadata_parser import IMAGE_IDS
from wsol_tf.data.metadata_parser import IMAGE_SIZES
from wsol_tf.data.metadata_parser import LOCALIZATION
from wsol_tf.data.metadata_parser import MetadataError
from wsol_tf.data.metadata_parser import Problems
from wsol_tf.data.metadata_parser import WSOLMetadata
from wsol_tf.data.metadata_parser import parse

__all__ = [
    "CLASS_LABELS",
    "IMAGE_IDS",
    "IMAGE_SIZES",
    "LOCALIZATION",
    "MetadataError",
    "WSOLMetadata",
    "check_class_labels",
    "infer_num_classes",
    "read_metadata",
    "resolve_num_classes",
    "size_mismatches",
    "validate_dataset",
]


def _image_size(path):
    """(W, H) of an image file from its header (`header_size`), else from
    its decoded array (other formats), or None."""
    try:
        return header_size(path)
    except (OSError, ValueError):
        pass
    import cv2

    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        return None
    return int(image.shape[1]), int(image.shape[0])


def _add_size_problem(meta, image_id, size, problems):
    """Adds a problem if `image_sizes.txt` lists another size than `size`."""
    if (IMAGE_SIZES, image_id) not in meta.lines:
        return  # no line: not listed (or read from the image)
    if meta.sizes[image_id] != tuple(size):
        w, h = meta.sizes[image_id]
        problems.add(
            os.path.join(meta.split_dir, IMAGE_SIZES),
            meta.lines[(IMAGE_SIZES, image_id)],
            f"image {image_id!r} is {size[0]}x{size[1]} on disk, but "
            f"{IMAGE_SIZES} says {w}x{h}",
        )


def size_mismatches(meta):
    """Every image whose size on disk differs from `image_sizes.txt`.

    Reads each listed image's header (`header_size`; no decode), so it is
    cheap enough for every run. Missing or unreadable images are skipped
    (the missing-file and decode checks name them).

    Returns:
        A list of `"image_sizes.txt:line: message"` strings.
    """
    problems = Problems()
    for image_id in meta.image_ids:
        if (IMAGE_SIZES, image_id) in meta.lines:
            size = _image_size(meta.path(image_id))
            if size is not None:
                _add_size_problem(meta, image_id, size, problems)
    return list(problems)


def _check_boxes_inside(meta, problems):
    """Box-versus-image-size checks (sizes from the file or the images)."""
    path = os.path.join(meta.split_dir, LOCALIZATION)
    for image_id, boxes in meta.boxes.items():
        if image_id not in meta.sizes and meta.data_root is not None:
            size = _image_size(meta.path(image_id))
            if size is not None:
                meta.sizes[image_id] = size
        if image_id not in meta.sizes:
            problems.add(
                path,
                meta.lines[(LOCALIZATION, image_id)],
                f"no size for {image_id!r} in {IMAGE_SIZES} (and its image "
                f"could not be read) to check and rescale its boxes",
            )
            continue
        width, height = meta.sizes[image_id]
        for k, (x0, y0, x1, y1) in enumerate(boxes):
            if x1 >= width or y1 >= height:
                problems.add(
                    path,
                    meta.lines[(LOCALIZATION, image_id, k)],
                    f"box {(x0, y0, x1, y1)} lies outside the {width}x"
                    f"{height} image {image_id!r}: expected x1 <= "
                    f"{width - 1} and y1 <= {height - 1}",
                )


def _collect(metadata_root, split, data_root, num_classes):
    problems = Problems()
    meta = parse(os.fspath(metadata_root), split, num_classes, problems)
    if meta is not None:
        meta.data_root = None if data_root is None else os.fspath(data_root)
        _check_boxes_inside(meta, problems)
    return meta, problems


def read_metadata(metadata_root, split, data_root=None, num_classes=None):
    """Reads `<metadata_root>/<split>/` into a `WSOLMetadata`.

    Args:
        metadata_root: directory holding one sub-directory per split.
        split: e.g. "train", "val" (train-fullsup) or "test".
        data_root: directory the image ids are relative to; needed only to
            read image sizes when `image_sizes.txt` is empty and the split
            has boxes. Not checked for existence here (see
            `validate_dataset`).
        num_classes: when given, labels must lie in `[0, num_classes)`;
            None infers `max label + 1`.

    Returns:
        A `WSOLMetadata`.

    Raises:
        MetadataError (a ValueError): listing every problem as
            `file:line: message`.

    Example:

    >>> meta = read_metadata("metadata/CUB", "test", "dataset/CUB")
    >>> meta.boxes[meta.image_ids[0]]
    [(60, 27, 385, 331)]
    """
    meta, problems = _collect(metadata_root, split, data_root, num_classes)
    if problems:
        raise MetadataError(
            problems,
            f"metadata_root={os.fspath(metadata_root)!r}, split={split!r}",
        )
    return meta


def _decode_problem(path):
    """(`(W, H)`, None) if `path` decodes as the pipeline decodes it, else
    (None, a message naming the file)."""
    import tensorflow as tf

    if not os.path.isfile(path):
        return None, f"file not found: {path}"
    try:
        with open(path, "rb") as f:
            data = f.read()
        image = tf.io.decode_image(data, expand_animations=False)
    except OSError as e:
        return None, f"cannot read {path}: {e}"
    except (tf.errors.OpError, ValueError) as e:
        reason = getattr(e, "message", str(e)).split("[Op:")[0].strip()
        reason = reason.split("}}")[-1].strip()
        return None, f"corrupt or unsupported image {path}: {reason}"
    return (int(image.shape[1]), int(image.shape[0])), None


def validate_dataset(
    metadata_root, split, data_root, check_images=True, num_classes=None
):
    """Collects every problem of one split, instead of stopping at the first.

    Checks the metadata files (as `read_metadata`) and, with
    `check_images`, that every image and mask file exists and decodes with
    `tf.io.decode_image` (as the pipeline decodes it), and that decoded
    image sizes match `image_sizes.txt`.

    Returns:
        A list of strings `"file:line: message"` (empty when all is well).
    """
    meta, problems = _collect(metadata_root, split, data_root, num_classes)
    if meta is None or not check_images:
        return list(problems)
    ids_path = os.path.join(meta.split_dir, IMAGE_IDS)
    for image_id in meta.image_ids:
        number = meta.lines[(IMAGE_IDS, image_id)]
        size, problem = _decode_problem(meta.path(image_id))
        if problem:
            problems.add(ids_path, number, f"image {image_id!r}: {problem}")
        else:
            _add_size_problem(meta, image_id, size, problems)
        mask_paths, ignore = meta.masks.get(image_id, ([], None))
        named = list(enumerate(mask_paths)) + [(0, ignore)]
        for k, mask in named:
            if mask is None:
                continue
            _, problem = _decode_problem(meta.path(mask))
            if problem:
                problems.add(
                    os.path.join(meta.split_dir, LOCALIZATION),
                    meta.lines[(LOCALIZATION, image_id, k)],
                    f"mask of {image_id!r}: {problem}",
                )
    return list(problems)


def infer_num_classes(metadata_root, split):
    """`max label + 1` over `<metadata_root>/<split>/class_labels.txt`.

    Reads only the labels file, so it is fast even for ILSVRC train. The
    labels must cover `0..max` (see `resolve_num_classes`, which also
    checks the other splits).

    Raises:
        MetadataError: a malformed line, a negative label or a gap in the
            labels, as `file:line: message`.
    """
    return resolve_num_classes(metadata_root, [split], train_split=split)
