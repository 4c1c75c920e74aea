"""Score map -> boxes at CAM thresholds, with the wsolevaluation conventions.

Conventions (docs/evaluation.md, "The evaluation protocol"):
- `S8 = uint8(scoremap * 255)` (truncation, in the map's own dtype);
- the threshold `t` becomes `int(t * max(S8))` and foreground is `S8 > that`
  (strict);
- boxes are the bounding rectangles of `cv2.findContours(RETR_TREE)`
  contours: every contour, holes included (multi-contour, MaxBoxAccV2) or
  the one of largest `cv2.contourArea` (the first one on ties; V1);
- box = `(x, y, min(x + w, W - 1), min(y + h, H - 1))`, integer pixels;
- no contour -> the single box `(0, 0, 0, 0)`.

`cam_to_boxes` and `level_boxes_opencv` call OpenCV exactly like the
reference. The multi-contour boxes of all thresholds at once come from the C
kernel `_fastboxes` (see `box_evaluator.py`): outer contours are the
8-connected components of the foreground, hole contours the 4-connected
background components that do not touch the border, whose contour box is the
hole's pixel box grown by one pixel on each side.
"""

import cv2
import numpy as np

from wsol_tf.evaluation.cam_ops import check_scoremap

_CONTOUR_INDEX = 1 if cv2.__version__.split(".")[0] == "3" else 0


def to_uint8(scoremap):
    """`uint8(scoremap * 255)` exactly as wsolevaluation computes it."""
    return (scoremap * 255).astype(np.uint8)


def level_boxes_opencv(s8, level, multi_contour=True, profiles=None):
    """Boxes of one uint8 map at one integer level, via `cv2.findContours`.

    When the foreground fills clearly less than the map, only its bounding
    box is passed to OpenCV: contours, their order and their areas are
    those of the full map, shifted.

    Args:
        s8: uint8 array [H, W].
        level: int; foreground is `s8 > level`.
        multi_contour: all contours (True) or the largest one (False).
        profiles: optional (row maxima [H], column maxima [W]) of `s8`.
    """
    height, width = s8.shape
    row_max, col_max = profiles if profiles else (s8.max(1), s8.max(0))
    fg_rows = np.flatnonzero(row_max > level)
    if fg_rows.size == 0:
        return np.zeros((1, 4), np.int64)
    fg_cols = np.flatnonzero(col_max > level)
    y_off, x_off = int(fg_rows[0]), int(fg_cols[0])
    y_end, x_end = int(fg_rows[-1]) + 1, int(fg_cols[-1]) + 1
    if (y_end - y_off) * (x_end - x_off) > 0.7 * height * width:
        y_off = x_off = 0
        crop = s8
    else:
        crop = np.ascontiguousarray(s8[y_off:y_end, x_off:x_end])
    _, binary = cv2.threshold(crop, int(level), 255, cv2.THRESH_BINARY)
    contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
    contours = contours[_CONTOUR_INDEX]
    if not multi_contour:
        contours = [max(contours, key=cv2.contourArea)]
    boxes = np.array([cv2.boundingRect(c) for c in contours], np.int64)
    boxes[:, 0] += x_off
    boxes[:, 1] += y_off
    boxes[:, 2] = np.minimum(boxes[:, 0] + boxes[:, 2], width - 1)
    boxes[:, 3] = np.minimum(boxes[:, 1] + boxes[:, 3], height - 1)
    return boxes


def cam_to_boxes(scoremap, threshold, multi_contour=True):
    """Boxes of one score map at one CAM threshold (protocol conventions).

    Args:
        scoremap: float array [H, W] in [0, 1] (resized and normalised).
        threshold: float CAM threshold `t` in [0, 1).
        multi_contour: all contours incl. holes (True, MaxBoxAccV2) or only
            the largest one by `cv2.contourArea` (False, V1).

    Returns:
        int64 array [N, 4] of boxes `x0, y0, x1, y1` in the map's pixels;
        `[[0, 0, 0, 0]]` when nothing is above the threshold.

    Example:
    >>> m = np.zeros((10, 10)); m[2, 2] = 1.0
    >>> cam_to_boxes(m, 0.5).tolist()
    [[2, 2, 3, 3]]
    """
    scoremap = check_scoremap(scoremap)
    s8 = to_uint8(scoremap)
    level = int(np.float64(threshold) * s8.max())
    return level_boxes_opencv(s8, level, multi_contour)


def levels_table(thresholds, s8_max):
    """Per-image CAM levels, vectorised over a batch.

    Args:
        thresholds: float array [T] (ascending, as `np.arange(0, 1, step)`).
        s8_max: uint8 / int array [B], `max(S8)` of each map.

    Returns:
        (levels int64 [B, L] padded with 256, n_levels int64 [B],
        index int64 [B, T] = level slot of every threshold).
    """
    thresholds = np.asarray(thresholds, np.float64)
    ks = (thresholds[None, :] * np.asarray(s8_max, np.float64)[:, None]).astype(
        np.int64
    )
    new = np.ones(ks.shape, bool)
    new[:, 1:] = ks[:, 1:] != ks[:, :-1]
    index = np.cumsum(new, axis=1) - 1
    n_levels = index[:, -1] + 1
    levels = np.full((ks.shape[0], int(n_levels.max())), 256, np.int64)
    rows, cols = np.nonzero(new)
    levels[rows, index[rows, cols]] = ks[rows, cols]
    return levels, n_levels, index


def largest_contour_boxes(s8, levels, n_levels):
    """V1 boxes (largest contour by `cv2.contourArea`) of a batch.

    Args:
        s8: uint8 array [B, H, W] (see `to_uint8`).
        levels: int array [B, L] of sorted distinct levels (padded).
        n_levels: int array [B], number of valid levels per image.

    Returns:
        (boxes int64 [N, 4], image int64 [N], level slot int64 [N]), one box
        per image and level.

    Uses `cv2.findContours` once per distinct level (on the foreground's
    bounding box) so that ties are broken exactly as the reference does.
    """
    boxes, img, lev = [], [], []
    for i in range(s8.shape[0]):
        s8_i = np.ascontiguousarray(s8[i])
        profiles = (s8_i.max(axis=1), s8_i.max(axis=0))
        for j in range(int(n_levels[i])):
            level = int(levels[i, j])
            boxes.append(level_boxes_opencv(s8_i, level, False, profiles))
            img.append(i)
            lev.append(j)
    return (
        np.concatenate(boxes),
        np.array(img, np.int64),
        np.array(lev, np.int64),
    )
