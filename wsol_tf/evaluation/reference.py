"""Literal port of the wsolevaluation box evaluation (the oracle).

`compute_bboxes_from_scoremaps`, `calculate_multiple_iou` and
`ReferenceBoxEvaluator.accumulate` / `compute` follow `evaluation.py` of
clovaai/wsolevaluation line by line (per image, per threshold: threshold,
`cv2.findContours`, bounding rectangles, IoU against the GT boxes), minus the
metadata loading: GT boxes are passed in, already in the score map's frame.
`np.int` / `np.float` are spelled `np.int64` / `np.float64`.

This is the slow, obviously faithful version: tests check the fast
`BoxEvaluator` against it hit for hit, `BoxEvaluator(backend="reference")`
runs it, and `bench/eval_bench.py` times both.
"""

import cv2
import numpy as np

_CONTOUR_INDEX = 1 if cv2.__version__.split(".")[0] == "3" else 0


def check_box_convention(boxes, convention):
    if (boxes < 0).any():
        raise RuntimeError("Box coordinates must be non-negative.")
    if len(boxes.shape) == 1:
        boxes = np.expand_dims(boxes, 0)
    elif len(boxes.shape) != 2:
        raise RuntimeError(
            "Box array must have dimension (4) or (num_boxes, 4)."
        )
    if boxes.shape[1] != 4:
        raise RuntimeError(
            "Box array must have dimension (4) or (num_boxes, 4)."
        )
    if convention == "x0y0x1y1":
        widths = boxes[:, 2] - boxes[:, 0]
        heights = boxes[:, 3] - boxes[:, 1]
    elif convention == "xywh":
        widths = boxes[:, 2]
        heights = boxes[:, 3]
    else:
        raise ValueError(f"Unknown convention {convention}.")
    if (widths < 0).any() or (heights < 0).any():
        raise RuntimeError(f"Boxes do not follow the {convention} convention.")


def calculate_multiple_iou(box_a, box_b):
    """IoU matrix [num_a, num_b] of x0y0x1y1 boxes, inclusive (+1) pixels."""
    num_a = box_a.shape[0]
    num_b = box_b.shape[0]
    check_box_convention(box_a, "x0y0x1y1")
    check_box_convention(box_b, "x0y0x1y1")
    box_a = np.tile(box_a, num_b)
    box_a = np.expand_dims(box_a, axis=1).reshape((num_a, num_b, -1))
    box_b = np.tile(box_b, num_a)
    box_b = np.expand_dims(box_b, axis=1).reshape((num_b, num_a, -1))
    box_b = np.transpose(box_b, (1, 0, 2))
    min_x = np.maximum(box_a[:, :, 0], box_b[:, :, 0])
    min_y = np.maximum(box_a[:, :, 1], box_b[:, :, 1])
    max_x = np.minimum(box_a[:, :, 2], box_b[:, :, 2])
    max_y = np.minimum(box_a[:, :, 3], box_b[:, :, 3])
    area_intersect = np.maximum(0, max_x - min_x + 1) * np.maximum(
        0, max_y - min_y + 1
    )
    area_a = (box_a[:, :, 2] - box_a[:, :, 0] + 1) * (
        box_a[:, :, 3] - box_a[:, :, 1] + 1
    )
    area_b = (box_b[:, :, 2] - box_b[:, :, 0] + 1) * (
        box_b[:, :, 3] - box_b[:, :, 1] + 1
    )
    denominator = area_a + area_b - area_intersect
    degenerate_indices = np.where(denominator <= 0)
    denominator[degenerate_indices] = 1
    ious = area_intersect / denominator
    ious[degenerate_indices] = 0
    return ious


def compute_bboxes_from_scoremaps(
    scoremap, scoremap_threshold_list, multi_contour_eval=False
):
    """Boxes at each threshold and their counts (wsolevaluation verbatim)."""
    height, width = scoremap.shape
    scoremap_image = np.expand_dims((scoremap * 255).astype(np.uint8), 2)

    def scoremap2bbox(threshold):
        _, thr_gray_heatmap = cv2.threshold(
            src=scoremap_image,
            thresh=int(threshold * np.max(scoremap_image)),
            maxval=255,
            type=cv2.THRESH_BINARY,
        )
        contours = cv2.findContours(
            image=thr_gray_heatmap,
            mode=cv2.RETR_TREE,
            method=cv2.CHAIN_APPROX_SIMPLE,
        )[_CONTOUR_INDEX]
        if len(contours) == 0:
            return np.asarray([[0, 0, 0, 0]]), 1
        if not multi_contour_eval:
            contours = [max(contours, key=cv2.contourArea)]
        estimated_boxes = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            x0, y0, x1, y1 = x, y, x + w, y + h
            x1 = min(x1, width - 1)
            y1 = min(y1, height - 1)
            estimated_boxes.append([x0, y0, x1, y1])
        return np.asarray(estimated_boxes), len(contours)

    estimated_boxes_at_each_thr = []
    number_of_box_list = []
    for threshold in scoremap_threshold_list:
        boxes, number_of_box = scoremap2bbox(threshold)
        estimated_boxes_at_each_thr.append(boxes)
        number_of_box_list.append(number_of_box)
    return estimated_boxes_at_each_thr, number_of_box_list


def best_iou_at_thresholds(
    scoremap, gt_boxes, scoremap_threshold_list, multi_contour_eval
):
    """Best IoU per threshold (the first half of wsolevaluation accumulate)."""
    boxes_at_thresholds, number_of_box_list = compute_bboxes_from_scoremaps(
        scoremap=scoremap,
        scoremap_threshold_list=scoremap_threshold_list,
        multi_contour_eval=multi_contour_eval,
    )
    boxes_at_thresholds = np.concatenate(boxes_at_thresholds, axis=0)
    multiple_iou = calculate_multiple_iou(
        np.array(boxes_at_thresholds), np.array(gt_boxes)
    )
    idx = 0
    sliced_multiple_iou = []
    for nr_box in number_of_box_list:
        sliced_multiple_iou.append(max(multiple_iou.max(1)[idx : idx + nr_box]))
        idx += nr_box
    return np.asarray(sliced_multiple_iou, np.float64)


class ReferenceBoxEvaluator:
    """wsolevaluation `BoxEvaluator` with GT boxes passed to `accumulate`.

    Args:
        iou_threshold_list: IoU thresholds in percent, e.g. (30, 50, 70).
        cam_curve_interval: CAM threshold step; thresholds are
            `np.arange(0, 1, cam_curve_interval)`.
        multi_contour_eval: all contours (True) or the largest one (False).
    """

    def __init__(
        self,
        iou_threshold_list=(30, 50, 70),
        cam_curve_interval=0.01,
        multi_contour_eval=True,
    ):
        self.cam_threshold_list = list(np.arange(0, 1, cam_curve_interval))
        self.iou_threshold_list = list(iou_threshold_list)
        self.multi_contour_eval = multi_contour_eval
        self.cnt = 0
        self.num_correct = {
            iou_threshold: np.zeros(len(self.cam_threshold_list))
            for iou_threshold in self.iou_threshold_list
        }

    def accumulate(self, scoremap, gt_boxes):
        sliced_multiple_iou = best_iou_at_thresholds(
            scoremap,
            gt_boxes,
            self.cam_threshold_list,
            self.multi_contour_eval,
        )
        for _THRESHOLD in self.iou_threshold_list:
            correct_threshold_indices = np.where(
                np.asarray(sliced_multiple_iou) >= (_THRESHOLD / 100)
            )[0]
            self.num_correct[_THRESHOLD][correct_threshold_indices] += 1
        self.cnt += 1
        return np.asarray(sliced_multiple_iou)

    def compute(self):
        max_box_acc = []
        for _THRESHOLD in self.iou_threshold_list:
            localization_accuracies = (
                self.num_correct[_THRESHOLD] * 100.0 / float(self.cnt)
            )
            max_box_acc.append(localization_accuracies.max())
        return max_box_acc
