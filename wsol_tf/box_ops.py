"""The box convention of the protocol, in one place.

A box is four integers `(x0, y0, x1, y1)` in pixels, **inclusive** on both
ends: it covers pixel columns `x0..x1` and rows `y0..y1`, so its area is
`(x1 - x0 + 1) * (y1 - y0 + 1)` (the "+1" IoU of wsolevaluation). Inside an
image of width W and height H a valid box has `0 <= x0 <= x1 <= W - 1` and
`0 <= y0 <= y1 <= H - 1`. Batched boxes are padded with rows of -1
(`PAD_VALUE`); a row is real iff its x0 is >= 0.

The numpy functions serve metadata and evaluation code (rescaling, padding,
validation, the protocol IoU); the `*_tf` functions run inside `tf.data`
(and eagerly) for the training pipeline. TensorFlow is imported by those
only, so the evaluation, which forks worker processes when no threaded
runtime is loaded, stays free of it.
"""

import numpy as np

PAD_VALUE = -1


def rescale_boxes(boxes, original_size, new_size):
    """Rescales boxes from an image of `original_size` to `new_size`.

    Exactly wsolevaluation's `resize_bbox`: each coordinate is multiplied by
    `new / original` (x and y separately) and truncated with `int()`, e.g. a
    box `(10, 20, 499, 374)` of a 500 x 375 image becomes
    `(4, 11, 223, 223)` at 224 x 224.

    Args:
        boxes: int array-like `[N, 4]` `(x0, y0, x1, y1)` in the original
            image.
        original_size: `(W, H)` of the original image.
        new_size: `(W', H')` of the resized image.

    Returns:
        int64 array `[N, 4]`.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    (width, height), (new_width, new_height) = original_size, new_size
    if width <= 0 or height <= 0:
        raise ValueError(
            f"Expected a positive original image size. "
            f"Received: original_size={original_size}"
        )
    out = np.empty_like(boxes)
    # Same operation order as the reference: (x * new_w) / w, then int().
    out[:, 0::2] = boxes[:, 0::2] * new_width / width
    out[:, 1::2] = boxes[:, 1::2] * new_height / height
    return np.trunc(out).astype(np.int64)


def pad_boxes(boxes, max_boxes):
    """Pads `[N, 4]` boxes to `[max_boxes, 4]` int32 with rows of -1.

    Raises:
        ValueError: when N > max_boxes (boxes are never silently dropped).
    """
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    if len(boxes) > max_boxes:
        raise ValueError(
            f"An image has {len(boxes)} boxes, more than max_boxes; raise "
            f"max_boxes (0 = the maximum over the split). "
            f"Received: max_boxes={max_boxes}"
        )
    out = np.full((max_boxes, 4), PAD_VALUE, dtype=np.int32)
    out[: len(boxes)] = boxes
    return out


def unpad_boxes(boxes):
    """Drops the -1 padding rows of a numpy `[K, 4]` box array."""
    boxes = np.asarray(boxes).reshape(-1, 4)
    return boxes[boxes[:, 0] >= 0]


def flip_boxes_left_right(boxes, width):
    """Mirrors numpy boxes horizontally in an image `width` pixels wide.

    A box over columns `x0..x1` covers `W-1-x1..W-1-x0` after the flip.
    Padding rows stay -1.
    """
    boxes = np.asarray(boxes).reshape(-1, 4).copy()
    real = boxes[:, 0] >= 0
    x0 = boxes[real, 0].copy()
    boxes[real, 0] = width - 1 - boxes[real, 2]
    boxes[real, 2] = width - 1 - x0
    return boxes


def _iou(a, b):
    """Element-wise (broadcast) protocol IoU of int64 boxes [..., 4]."""
    iw = np.maximum(
        0,
        np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1,
    )
    ih = np.maximum(
        0,
        np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1,
    )
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    union = area_a + area_b - inter
    bad = union <= 0
    iou = inter / np.where(bad, 1, union)
    iou[bad] = 0.0
    return iou


def iou_matrix(box_a, box_b):
    """IoU [num_a, num_b] of x0y0x1y1 integer boxes, pixels inclusive.

    Same arithmetic as wsolevaluation `calculate_multiple_iou`: intersection
    `max(0, min(x1) - max(x0) + 1) * max(0, min(y1) - max(y0) + 1)`, areas
    `(x1 - x0 + 1) * (y1 - y0 + 1)`, a non-positive union gives IoU 0.

    Example:
    >>> iou_matrix(np.array([[0, 0, 9, 9]]), np.array([[0, 0, 4, 9]]))
    array([[0.5]])
    """
    a = np.asarray(box_a, np.int64).reshape(-1, 4)[:, None, :]
    b = np.asarray(box_b, np.int64).reshape(-1, 4)[None, :, :]
    return _iou(a, b)


def check_gt_boxes(gt_boxes, height, width, name="gt_boxes"):
    """Validates GT boxes of one map; returns an int64 array [K, 4].

    Rows that are all -1 are padding and dropped. Every other box must have
    integer coordinates with `0 <= x0 <= x1 <= W` and `0 <= y0 <= y1 <= H`
    (one past the last pixel is tolerated: protocol rescaling with int
    truncation maps a box ending on the original image border there).
    """
    boxes = np.asarray(gt_boxes)
    if boxes.ndim == 1 and boxes.size == 4:
        boxes = boxes[None]
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(
            f"Expected `{name}` of shape [K, 4] (x0, y0, x1, y1). "
            f"Received: {name}.shape={boxes.shape}"
        )
    if (
        not np.issubdtype(boxes.dtype, np.number)
        or np.isnan(boxes.astype(np.float64)).any()
    ):
        raise ValueError(
            f"Expected numeric `{name}` without NaN. Received: {name}={boxes!r}"
        )
    as_int = boxes.astype(np.int64)
    if (as_int != boxes).any():
        raise ValueError(
            f"Expected integer pixel coordinates in `{name}`. "
            f"Received: {name}={boxes.tolist()}"
        )
    boxes = as_int[~(as_int == -1).all(axis=1)]
    if boxes.shape[0] == 0:
        raise ValueError(
            f"Expected at least one GT box (rows of -1 are padding). "
            f"Received: {name}={as_int.tolist()}"
        )
    x0, y0, x1, y1 = boxes.T
    bad = (
        (x0 < 0)
        | (y0 < 0)
        | (x1 < x0)
        | (y1 < y0)
        | (x1 > width)
        | (y1 > height)
    )
    if bad.any():
        raise ValueError(
            f"Expected boxes with 0 <= x0 <= x1 <= {width} and "
            f"0 <= y0 <= y1 <= {height} (inside the {height}x{width} map). "
            f"Received: {name}={boxes[bad].tolist()}"
        )
    return boxes


def best_iou_per_level(boxes, image, level, gt, gt_valid, n_levels):
    """Max IoU over boxes and GT boxes for each (image, level).

    Args:
        boxes: int array [N, 4]; image, level: int arrays [N].
        gt: int array [B, K, 4]; gt_valid: bool array [B, K].
        n_levels: number of level slots per image.

    Returns:
        float64 array [B, n_levels] (-1 where an image has no box at a level).
    """
    batch = gt.shape[0]
    best = np.full(batch * n_levels, -1.0)
    if boxes.shape[0] == 0:
        return best.reshape(batch, n_levels)
    # Boxes and GT boxes are valid (x1 >= x0, y1 >= y0), so every union is
    # positive and the degenerate case of the reference never occurs.
    b = boxes.astype(np.int32)
    g = gt.astype(np.int32)[image]  # [N, K, 4]
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    area_g = (g[..., 2] - g[..., 0] + 1) * (g[..., 3] - g[..., 1] + 1)
    iw = np.minimum(b[:, None, 2], g[..., 2])
    iw -= np.maximum(b[:, None, 0], g[..., 0])
    iw += 1
    np.maximum(iw, 0, out=iw)
    ih = np.minimum(b[:, None, 3], g[..., 3])
    ih -= np.maximum(b[:, None, 1], g[..., 1])
    ih += 1
    np.maximum(ih, 0, out=ih)
    inter = iw.astype(np.int64) * ih
    union = area_g.astype(np.int64) + area_b[:, None] - inter
    iou = inter / union
    iou[~gt_valid[image]] = -1.0
    np.maximum.at(best, image * n_levels + level, iou.max(axis=1))
    return best.reshape(batch, n_levels)


def rescale_boxes_tf(boxes, original_size, new_size):
    """TF version of `rescale_boxes` (float64 math, int truncation).

    Args:
        boxes: int `[K, 4]` tensor, padding rows -1 (kept as -1).
        original_size: int tensor `(W, H)`.
        new_size: int tensor or tuple `(W', H')`.

    Returns:
        int32 `[K, 4]`.
    """
    import tensorflow as tf

    boxes = tf.convert_to_tensor(boxes)
    real = boxes[:, :1] >= 0
    b = tf.cast(boxes, tf.float64)
    old = tf.cast(tf.convert_to_tensor(original_size), tf.float64)
    new = tf.cast(tf.convert_to_tensor(new_size), tf.float64)
    new_xyxy = tf.stack([new[0], new[1], new[0], new[1]])
    old_xyxy = tf.stack([old[0], old[1], old[0], old[1]])
    scaled = tf.cast(tf.math.floor(b * new_xyxy / old_xyxy), tf.int32)
    return tf.where(real, scaled, PAD_VALUE)


def crop_boxes_tf(boxes, offset_x, offset_y, width, height):
    """Shifts boxes into a `width x height` crop at `(offset_x, offset_y)`.

    Coordinates are clipped to the crop; a box with no pixel inside the
    crop becomes a padding row (-1), and padding rows stay -1.

    Returns:
        int32 `[K, 4]`.
    """
    import tensorflow as tf

    boxes = tf.cast(tf.convert_to_tensor(boxes), tf.int32)
    real = boxes[:, 0] >= 0
    shift = tf.stack([offset_x, offset_y, offset_x, offset_y])
    moved = boxes - tf.cast(shift, tf.int32)
    inside = (
        (moved[:, 2] >= 0)
        & (moved[:, 3] >= 0)
        & (moved[:, 0] <= width - 1)
        & (moved[:, 1] <= height - 1)
    )
    limit = tf.stack([width - 1, height - 1, width - 1, height - 1])
    clipped = tf.clip_by_value(moved, 0, tf.cast(limit, tf.int32))
    keep = (real & inside)[:, None]
    return tf.where(keep, clipped, PAD_VALUE)


def flip_boxes_left_right_tf(boxes, width):
    """TF version of `flip_boxes_left_right` (padding rows stay -1)."""
    import tensorflow as tf

    boxes = tf.cast(tf.convert_to_tensor(boxes), tf.int32)
    real = boxes[:, :1] >= 0
    w = tf.cast(width, tf.int32)
    flipped = tf.stack(
        [w - 1 - boxes[:, 2], boxes[:, 1], w - 1 - boxes[:, 0], boxes[:, 3]],
        axis=1,
    )
    return tf.where(real, flipped, PAD_VALUE)
