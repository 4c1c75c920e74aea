"""CAM overlays with boxes, image grids and BoxAcc-vs-threshold plots (cv2).

Everything here is numpy + OpenCV (no matplotlib). Images are RGB uint8
arrays; `write_png` converts to OpenCV's BGR on the way out. Figures follow
the papers' convention: JET heat map over the image, ground-truth boxes in
red, predicted boxes in green.

Example:

```python
grid = localization_grid(images_uint8, scoremaps, gt_boxes, pred_boxes)
write_png("cams.png", grid)
write_png("curve.png", plot_boxacc_curve(thresholds, {50: acc50}))
```
"""

import os

import cv2
import numpy as np

from wsol_tf.box_ops import iou_matrix
from wsol_tf.box_ops import unpad_boxes
from wsol_tf.data.image_ops import denormalize_images
from wsol_tf.evaluation.box_evaluator import curve_best_thresholds
from wsol_tf.evaluation.cam_ops import scoremaps_from_cams
from wsol_tf.evaluation.cam_to_boxes import cam_to_boxes
from wsol_tf.evaluation.runner import evaluate_model
from wsol_tf.evaluation.runner import serving_threshold
from wsol_tf.io_utils import atomic_path

GT_COLOR = (255, 0, 0)  # RGB red
PRED_COLOR = (0, 255, 0)  # RGB green
CURVE_COLORS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40))
CAPTION_LINE_HEIGHT = 13  # pixels per text line under a captioned tile
CAPTION_SCALE = 0.35  # OpenCV font scale of a caption that fits its tile


def to_uint8_images(images, normalization="imagenet"):
    """Undoes the input normalisation: float [B, H, W, 3] -> uint8 RGB.

    Args:
        images: float array [B, H, W, 3] (or [H, W, 3]) as fed to the model.
        normalization: the `DataConfig.normalization` used to make them
            (see `wsol_tf.data.image_ops.normalize_images`).
    """
    x = np.asarray(
        denormalize_images(np.asarray(images, np.float32), normalization)
    )
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def compute_scoremaps(model, images, labels=None):
    """Protocol score maps [B, H, W] of `labels` (None: top-1) for images.

    The raw CAMs of `model.compute_cams` are resized to the image size with
    OpenCV's cubic kernel and min-max normalised, as in the evaluation.
    """
    images = np.asarray(images, np.float32)
    _, cams = model.compute_cams(images, labels)
    return scoremaps_from_cams(np.asarray(cams), images.shape[1:3])


def largest_box(scoremap, threshold):
    """[1, 4] box of the largest contour (V1 rule) at `threshold`."""
    return cam_to_boxes(scoremap, threshold, multi_contour=False)


def overlay_cam(image, scoremap, alpha=0.5):
    """Blends a JET heat map of `scoremap` ([H, W] in [0, 1]) over `image`."""
    image = np.asarray(image, np.uint8)
    scoremap = np.nan_to_num(np.asarray(scoremap, np.float32))
    if scoremap.shape != image.shape[:2]:
        scoremap = cv2.resize(
            scoremap, image.shape[1::-1], interpolation=cv2.INTER_CUBIC
        )
    heat = np.uint8(np.clip(scoremap, 0.0, 1.0) * 255)
    heat = cv2.cvtColor(
        cv2.applyColorMap(heat, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB
    )
    blended = (1.0 - alpha) * image + alpha * heat
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def draw_boxes(image, boxes, color, thickness=2):
    """Returns a copy of `image` with boxes (x0, y0, x1, y1) drawn.

    Rows with a negative coordinate (padding, -1) are skipped.
    """
    out = np.ascontiguousarray(np.array(image, np.uint8, copy=True))
    for box in np.asarray(boxes, np.int64).reshape(-1, 4):
        if (box < 0).any():
            continue
        x0, y0, x1, y1 = (int(v) for v in box)
        cv2.rectangle(out, (x0, y0), (x1, y1), tuple(color), thickness)
    return out


def box_iou(pred_boxes, gt_boxes):
    """IoU of the first predicted box with its best-matching GT box.

    The protocol's arithmetic (`box_ops.iou_matrix`, pixels inclusive);
    -1 padding rows are ignored, and no box on either side gives 0.

    Example:
    >>> box_iou([[0, 0, 4, 9]], [[0, 0, 9, 9], [-1, -1, -1, -1]])
    0.5
    """
    pred = unpad_boxes(pred_boxes)[:1]
    gt = unpad_boxes(gt_boxes)
    if not len(pred) or not len(gt):
        return 0.0
    return float(iou_matrix(pred, gt).max())


def tile_caption(label, prediction, iou):
    """The two-line caption of a CAM tile: true and predicted class, then
    the IoU of the predicted box."""
    return f"true {int(label)} pred {int(prediction)}\nIoU {iou:.2f}"


def add_caption(tile, caption):
    """`tile` above a white band holding `caption` in black.

    The band has `CAPTION_LINE_HEIGHT` pixels per line of `caption`; a line
    wider than the tile is drawn smaller, to fit.
    """
    tile = np.asarray(tile, np.uint8)
    width = tile.shape[1]
    lines = caption.split("\n")
    band = np.full((CAPTION_LINE_HEIGHT * len(lines), width, 3), 255, np.uint8)
    for i, line in enumerate(lines):
        (text_width, _), _ = cv2.getTextSize(
            line, cv2.FONT_HERSHEY_SIMPLEX, CAPTION_SCALE, 1
        )
        scale = CAPTION_SCALE * min(1.0, (width - 4) / max(text_width, 1))
        _text(band, line, (2, (i + 1) * CAPTION_LINE_HEIGHT - 3), scale=scale)
    return np.concatenate([tile, band], axis=0)


def make_grid(tiles, columns=4, padding=4, background=255):
    """Tiles equally sized images into a grid.

    The result is `rows * H + (rows + 1) * padding` pixels high and
    `columns * W + (columns + 1) * padding` wide, with
    `rows = ceil(len(tiles) / columns)` (columns shrinks to len(tiles)).
    """
    tiles = [np.asarray(t, np.uint8) for t in tiles]
    if not tiles:
        raise ValueError("make_grid needs at least one tile. Received: []")
    h, w = tiles[0].shape[:2]
    columns = max(1, min(int(columns), len(tiles)))
    rows = -(-len(tiles) // columns)
    grid = np.full(
        (
            rows * h + (rows + 1) * padding,
            columns * w + (columns + 1) * padding,
            3,
        ),
        background,
        np.uint8,
    )
    for i, tile in enumerate(tiles):
        if tile.shape[:2] != (h, w):
            raise ValueError(
                f"All tiles must be {h}x{w}. Received: tile {i} of shape "
                f"{tile.shape}"
            )
        r, c = divmod(i, columns)
        y = padding + r * (h + padding)
        x = padding + c * (w + padding)
        grid[y : y + h, x : x + w] = tile
    return grid


def localization_grid(
    images,
    scoremaps,
    gt_boxes,
    pred_boxes,
    columns=4,
    padding=4,
    alpha=0.5,
    captions=None,
):
    """Grid of CAM overlays with GT boxes (red) and predictions (green).

    Args:
        images: uint8 RGB [B, H, W, 3].
        scoremaps: float [B, H, W] in [0, 1] (same frame as the images).
        gt_boxes: per image, int [K, 4] (x0, y0, x1, y1), -1 rows ignored.
        pred_boxes: per image, int [N, 4] in the same frame.
        captions: optional text per image, written under its tile
            (`tile_caption`, `add_caption`).
    """
    tiles = []
    for image, cam, gt, pred in zip(images, scoremaps, gt_boxes, pred_boxes):
        tile = overlay_cam(image, cam, alpha)
        tile = draw_boxes(tile, gt, GT_COLOR)
        tiles.append(draw_boxes(tile, pred, PRED_COLOR))
    if captions is not None:
        tiles = [add_caption(t, c) for t, c in zip(tiles, captions)]
    return make_grid(tiles, columns, padding)


def _text(img, text, org, scale=0.45, color=(0, 0, 0), thickness=1):
    cv2.putText(
        img,
        text,
        org,
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        color,
        thickness,
        cv2.LINE_AA,
    )


def plot_boxacc_curve(thresholds, curves, width=640, height=480, title=""):
    """Line plot of BoxAcc (%) against the CAM threshold, one line per IoU.

    Args:
        thresholds: float [T] CAM thresholds in [0, 1].
        curves: dict IoU threshold (int percent) -> float [T] BoxAcc in %.
        width, height: image size in pixels.
        title: text drawn above the axes.

    Returns:
        uint8 RGB [height, width, 3].
    """
    img = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 60, 20, 36, 50

    def x_of(t):
        return int(round(left + t * (width - left - right)))

    def y_of(a):
        return int(round(height - bottom - a / 100.0 * (height - top - bottom)))

    for k in range(6):
        t, a = k / 5.0, k * 20.0
        cv2.line(
            img, (x_of(t), top), (x_of(t), height - bottom), (225, 225, 225), 1
        )
        cv2.line(
            img, (left, y_of(a)), (width - right, y_of(a)), (225, 225, 225), 1
        )
        cv2.line(
            img,
            (x_of(t), height - bottom),
            (x_of(t), height - bottom + 5),
            (0, 0, 0),
            1,
        )
        cv2.line(img, (left - 5, y_of(a)), (left, y_of(a)), (0, 0, 0), 1)
        _text(img, f"{t:.1f}", (x_of(t) - 10, height - bottom + 20))
        _text(img, f"{a:.0f}", (left - 32, y_of(a) + 5))
    cv2.rectangle(
        img, (left, top), (width - right, height - bottom), (0, 0, 0), 1
    )
    _text(img, "CAM threshold", (width // 2 - 50, height - 12), 0.5)
    _text(img, "BoxAcc (%)", (4, top - 12), 0.5)
    if title:
        _text(img, title, (left + 90, top - 12), 0.5)
    t = np.asarray(thresholds, np.float64)
    for i, (iou, acc) in enumerate(sorted(curves.items())):
        acc = np.asarray(acc, np.float64)
        color = CURVE_COLORS[i % len(CURVE_COLORS)]
        pts = np.stack([[x_of(a) for a in t], [y_of(v) for v in acc]], 1)
        cv2.polylines(img, [pts.astype(np.int32)], False, color, 2, cv2.LINE_AA)
        best = int(np.argmax(acc))
        y = top + 18 + 18 * i
        cv2.line(
            img,
            (width - right - 190, y - 4),
            (width - right - 165, y - 4),
            color,
            2,
        )
        _text(
            img,
            f"IoU {iou}: max {acc[best]:.1f} @ {t[best]:.3f}",
            (width - right - 160, y),
        )
    return img


def write_png(path, rgb):
    """Writes an RGB uint8 image as PNG atomically (temp file + rename)."""
    path = os.fspath(path)
    bgr = cv2.cvtColor(np.asarray(rgb, np.uint8), cv2.COLOR_RGB2BGR)
    with atomic_path(path, ".png") as tmp:
        if not cv2.imwrite(tmp, bgr):
            raise OSError(f"Could not write PNG: {path}")
    return path


def split_box_curve(model, dataset, eval_config):
    """BoxAcc curve of a whole split (None when it has no GT boxes).

    `evaluate_model` with GT-known Loc sharing the box search and no PxAP,
    i.e. only what the curve needs.
    """
    curve_only = eval_config.replace(
        loc_threshold=None,
        loc_multi_contour=eval_config.multi_contour_eval,
        pxap=False,
    )
    result = evaluate_model(model, dataset, curve_only, return_details=True)
    return result.box_curve


def spread_indices(labels, count):
    """Indices of `count` images taken round-robin over the classes, each
    class's in split order: a grid that shows every class (a split is
    often sorted by class, so its first images are all one class)."""
    labels = np.asarray(labels).reshape(-1)
    queues = [list(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    chosen = []
    while len(chosen) < min(count, len(labels)):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(int(queue.pop(0)))
    return sorted(chosen)


def _samples(model, dataset, count, labels=None):
    """(image, GT-class score map, GT boxes, label, predicted class) of
    `count` images spread over the classes (`spread_indices`). `labels`:
    the split's, in the dataset's order (None: one more pass to read
    them)."""
    if labels is None:
        labels = np.concatenate(
            [np.asarray(b["labels"]).reshape(-1) for b in dataset]
        )
    wanted = set(spread_indices(labels, count))
    samples, start = [], 0
    for batch in dataset:
        size = len(np.asarray(batch["labels"]).reshape(-1))
        keep = [i - start for i in range(start, start + size) if i in wanted]
        start += size
        if not keep:
            continue
        images = np.asarray(batch["images"], np.float32)[keep]
        labels = np.asarray(batch["labels"]).reshape(-1)[keep]
        boxes = np.asarray(batch["boxes"])[keep]
        logits, cams = model.compute_cams(images, labels)
        scoremaps = scoremaps_from_cams(np.asarray(cams), images.shape[1:3])
        predictions = np.asarray(logits).argmax(axis=-1)
        samples += zip(images, scoremaps, boxes, labels, predictions)
    return samples


def visualize_split(
    model,
    dataset,
    output_dir,
    *,
    normalization,
    eval_config,
    num_images=16,
    columns=4,
    threshold=None,
    suffix="test",
    curve=None,
    labels=None,
):
    """Writes `cams_<suffix>.png` and `boxacc_curve_<suffix>.png`.

    The grid shows `num_images` images of `dataset`, taken round-robin
    over the classes (`spread_indices`), with their
    GT-class CAM, GT boxes (red) and the largest-contour box (green) at
    `threshold` (None: `serving_threshold` of this split's curve, i.e. the
    CAM threshold of MaxBoxAcc at IoU 50, else `FALLBACK_CAM_THRESHOLD`
    when the split has no boxes), each tile captioned with its true class,
    the predicted class and the IoU of the green box with the
    best-matching red one (`box_iou`). The curve covers the whole split; pass
    `curve` (`BoxEvaluator.curve()` of this split, e.g. from
    `evaluate_model(..., return_details=True).box_curve`) to skip
    recomputing it (only the grid's images are then run through the model),
    and `labels` (the split's, in the dataset's order: `data.split_labels`)
    to pick the grid's images without a pass over the split.

    Returns:
        dict with the PNG paths ("grid", "curve"; curve None without boxes),
        "threshold" used and, with boxes, "best_thresholds" (per IoU) and
        "max_box_acc".
    """
    if curve is None:
        curve = split_box_curve(model, dataset, eval_config)
    samples = _samples(model, dataset, num_images, labels)
    result = {"curve": None}
    best = None
    if curve is not None:
        acc = curve["box_acc"]
        best = curve_best_thresholds(curve)
        scores = {k: float(np.max(v)) for k, v in acc.items()}
        scores["mean"] = float(np.mean(list(scores.values())))
        title = f"{suffix}: MaxBoxAcc mean {scores['mean']:.2f}"
        result["curve"] = write_png(
            os.path.join(output_dir, f"boxacc_curve_{suffix}.png"),
            plot_boxacc_curve(
                curve["thresholds"], curve["box_acc"], title=title
            ),
        )
        result["best_thresholds"] = best
        result["max_box_acc"] = scores
    threshold = serving_threshold(best) if threshold is None else threshold
    threshold = float(threshold)
    images = to_uint8_images(np.stack([s[0] for s in samples]), normalization)
    pred_boxes = [largest_box(s[1], threshold) for s in samples]
    captions = [
        tile_caption(label, prediction, box_iou(pred, gt))
        for (_, _, gt, label, prediction), pred in zip(samples, pred_boxes)
    ]
    grid = localization_grid(
        images,
        [s[1] for s in samples],
        [s[2] for s in samples],
        pred_boxes,
        columns=columns,
        captions=captions,
    )
    result["grid"] = write_png(
        os.path.join(output_dir, f"cams_{suffix}.png"), grid
    )
    result["threshold"] = threshold
    return result
