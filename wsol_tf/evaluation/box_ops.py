"""Box validation and the protocol IoU (inclusive "+1" pixel convention)."""

import numpy as np


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
