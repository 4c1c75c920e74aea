"""GT-known Loc, Top-1 Loc and Top-1 classification accuracy.

Settings (the ICL paper leaves them open; docs/evaluation.md):
- box: from the CAM of the ground-truth class, largest contour by
  `cv2.contourArea` (V1 style, `multi_contour=False`, default) or all
  contours (`multi_contour=True`); protocol conventions of `BoxEvaluator`;
- correct iff the best IoU over the GT boxes ("any GT box") is >= 0.5;
- CAM threshold: "optimal" (`threshold=None`, default: the one maximising
  GT-known Loc over the accumulated images, first one on ties) or a fixed
  float;
- Top-1 Loc: the top-1 prediction is the GT class AND the box is correct.
  The legacy protocol takes the box from the CAM of the *predicted* class;
  when prediction == GT that is the GT-class CAM, and when it differs the
  image is a Top-1 miss anyway, so Top-1 Loc = mean(pred == gt and
  GT-known hit) and only GT-class CAMs are needed. It uses the same
  threshold as GT-known Loc.
"""

import numpy as np

from wsol_tf.evaluation.box_evaluator import BoxEvaluator


class LocalizationAccuracy:
    """GT-known Loc / Top-1 Loc (%) at the optimal or a fixed CAM threshold.

    Args:
        cam_curve_interval: CAM threshold grid step (optimal threshold).
        threshold: None (optimal) or a fixed CAM threshold in [0, 1).
        multi_contour: all contours (True) or the largest one (False).
        iou_threshold: IoU threshold in percent (50).
        box_evaluator: optional `BoxEvaluator` already accumulating the same
            maps with matching settings, whose per-image hits are reused
            instead of recomputing boxes.
        num_workers: threads of the internal `BoxEvaluator`.

    Example:
    >>> loc = LocalizationAccuracy(cam_curve_interval=0.1)
    >>> m = np.zeros((8, 8)); m[2:5, 2:5] = 1.0
    >>> loc.accumulate_batch(m[None], [[[2, 2, 5, 5]]], [3], [3])
    >>> loc.compute()["top1_loc"]
    100.0
    """

    def __init__(
        self,
        cam_curve_interval=0.01,
        threshold=None,
        multi_contour=False,
        iou_threshold=50,
        box_evaluator=None,
        num_workers=None,
    ):
        if threshold is not None and not 0 <= threshold < 1:
            raise ValueError(
                f"Expected `threshold` None or in [0, 1). "
                f"Received: threshold={threshold}"
            )
        self.threshold = threshold
        self.iou_threshold = int(iou_threshold)
        if box_evaluator is None:
            box_evaluator = BoxEvaluator(
                iou_thresholds=(self.iou_threshold,),
                cam_curve_interval=cam_curve_interval,
                multi_contour_eval=multi_contour,
                num_workers=num_workers,
                cam_thresholds=None if threshold is None else [threshold],
            )
            self._owns_evaluator = True
        else:
            if self.iou_threshold not in box_evaluator.iou_thresholds:
                raise ValueError(
                    f"The shared box_evaluator lacks IoU {self.iou_threshold}. "
                    f"Received: iou_thresholds={box_evaluator.iou_thresholds}"
                )
            self._owns_evaluator = False
        self.box_evaluator = box_evaluator
        self.correct_class = []

    def reset(self):
        if self._owns_evaluator:
            self.box_evaluator.reset()
        self.correct_class = []

    def accumulate_batch(self, scoremaps, gt_boxes, labels, predictions):
        """Adds maps of the GT class with their labels and top-1 predictions.

        Args:
            scoremaps: float [N, H, W] in [0, 1] (GT-class CAMs); ignored when
                the maps go through a shared `box_evaluator`.
            gt_boxes: [N, K, 4] or list of [K_i, 4] int boxes.
            labels: int [N] ground-truth classes.
            predictions: int [N] top-1 predicted classes.
        """
        labels = np.asarray(labels).reshape(-1)
        predictions = np.asarray(predictions).reshape(-1)
        if labels.shape != predictions.shape:
            raise ValueError(
                "Expected `labels` and `predictions` of one length. Received: "
                f"{labels.shape} and {predictions.shape}"
            )
        if self._owns_evaluator:
            self.box_evaluator.accumulate_batch(scoremaps, gt_boxes)
        self.correct_class.append(labels == predictions)

    def _image_hits(self):
        return self.box_evaluator.image_hits(self.iou_threshold)

    def compute(self):
        """dict: gt_known_loc, top1_loc, top1_cls (%) and loc_threshold."""
        hits = self._image_hits()
        correct = (
            np.concatenate(self.correct_class)
            if self.correct_class
            else np.zeros(0, bool)
        )
        if correct.size != hits.shape[0]:
            raise ValueError(
                "Every map needs a label and a prediction: got "
                f"{hits.shape[0]} maps and {correct.size} predictions."
            )
        n = hits.shape[0]
        if n == 0:
            raise ValueError("No maps accumulated: call accumulate_batch().")
        per_threshold = hits.sum(axis=0) * 100.0 / n
        index = int(np.argmax(per_threshold))
        hit = hits[:, index]
        return {
            "gt_known_loc": float(per_threshold[index]),
            "top1_loc": float((hit & correct).sum() * 100.0 / n),
            "top1_cls": float(correct.sum() * 100.0 / n),
            "loc_threshold": float(self.box_evaluator.cam_thresholds[index]),
        }

    def curve(self):
        """GT-known Loc (%) at every CAM threshold."""
        return {
            "thresholds": self.box_evaluator.cam_thresholds.copy(),
            "gt_known_loc": self._image_hits().mean(axis=0) * 100.0,
        }
