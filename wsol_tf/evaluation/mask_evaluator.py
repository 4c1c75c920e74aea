"""PxAP: pixel-wise average precision (wsolevaluation `MaskEvaluator`)."""

import numpy as np

from wsol_tf.evaluation.cam_ops import check_scoremap


class MaskEvaluator:
    """PxAP of score maps against foreground masks, exactly as wsolevaluation.

    Bin edges are `np.arange(0, 1, cam_curve_interval)` followed by
    `[1.0, 2.0, 3.0]`. Histograms of the float score-map values at GT
    foreground and background pixels (ignore pixels excluded) accumulate over
    the maps; `tp` / `fp` are reversed cumulative sums (score >= edge),
    `precision = tp / (tp + fp)`, `recall = tp / P` and
    `PxAP = 100 * sum_{k >= 1, tp_k + fp_k > 0} precision_k *
    (recall_k - recall_{k-1})`.

    Args:
        cam_curve_interval: histogram bin width, in (0, 1).

    Example:
    >>> ev = MaskEvaluator(cam_curve_interval=0.1)
    >>> ev.accumulate(np.array([[0.9, 0.1]]), np.array([[1, 0]], np.uint8))
    >>> ev.compute()
    100.0

    Reference:
        Choe et al., "Evaluating Weakly Supervised Object Localization
        Methods Right", CVPR 2020.
    """

    def __init__(self, cam_curve_interval=0.01):
        if not 0 < cam_curve_interval < 1:
            raise ValueError(
                "Expected `cam_curve_interval` in (0, 1). "
                f"Received: cam_curve_interval={cam_curve_interval}"
            )
        self.cam_curve_interval = cam_curve_interval
        thresholds = np.arange(0, 1, cam_curve_interval)
        self.bin_edges = np.append(thresholds, [1.0, 2.0, 3.0])
        self.reset()

    def reset(self):
        """Forgets all accumulated maps."""
        bins = self.bin_edges.size - 1
        self.gt_true_score_hist = np.zeros(bins, np.float64)
        self.gt_false_score_hist = np.zeros(bins, np.float64)
        self.count = 0

    def accumulate(self, scoremap, mask, ignore=None):
        """Adds one map.

        Args:
            scoremap: float array [H, W] in [0, 1].
            mask: uint8 array [H, W]: 1 foreground, 0 background, 255
                ignore (also any other value != 0, 1 with `ignore` absent is
                rejected).
            ignore: optional bool array [H, W] of extra ignore pixels (the
                ignore region of wsolevaluation when it is kept apart).
        """
        scoremap = check_scoremap(scoremap)
        mask = np.asarray(mask)
        if mask.shape != scoremap.shape:
            raise ValueError(
                f"Expected `mask` of the score map's shape {scoremap.shape}. "
                f"Received: mask.shape={mask.shape}"
            )
        bad = ~np.isin(mask, (0, 1, 255))
        if bad.any():
            raise ValueError(
                "Expected `mask` values 0 (background), 1 (foreground) or "
                f"255 (ignore). Received: mask values {np.unique(mask[bad])}"
            )
        fg = mask == 1
        bg = mask == 0
        if ignore is not None:
            ignore = np.asarray(ignore, bool)
            if ignore.shape != scoremap.shape:
                raise ValueError(
                    f"Expected `ignore` of shape {scoremap.shape}. "
                    f"Received: ignore.shape={ignore.shape}"
                )
            fg &= ~ignore
            bg &= ~ignore
        true_hist, _ = np.histogram(scoremap[fg], bins=self.bin_edges)
        false_hist, _ = np.histogram(scoremap[bg], bins=self.bin_edges)
        self.gt_true_score_hist += true_hist.astype(np.float64)
        self.gt_false_score_hist += false_hist.astype(np.float64)
        self.count += 1

    def accumulate_batch(self, scoremaps, masks):
        """Adds maps [N, H, W] with masks [N, H, W] (see `accumulate`)."""
        scoremaps, masks = np.asarray(scoremaps), np.asarray(masks)
        if scoremaps.ndim != 3 or masks.shape != scoremaps.shape:
            raise ValueError(
                "Expected `scoremaps` [N, H, W] and `masks` of the same shape. "
                f"Received: scoremaps.shape={scoremaps.shape}, "
                f"masks.shape={masks.shape}"
            )
        for scoremap, mask in zip(scoremaps, masks):
            self.accumulate(scoremap, mask)

    def curve(self):
        """Precision and recall at every bin edge (descending scores)."""
        num_gt_true = self.gt_true_score_hist.sum()
        tp = self.gt_true_score_hist[::-1].cumsum()
        fn = num_gt_true - tp
        fp = self.gt_false_score_hist[::-1].cumsum()
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = tp / (tp + fp)
            recall = tp / (tp + fn)
        return {"precision": precision, "recall": recall, "tp": tp, "fp": fp}

    def compute(self):
        """PxAP in percent (area under the pixel precision-recall curve)."""
        if self.count == 0:
            raise ValueError(
                "No score maps accumulated: call accumulate() first. "
                "Received: count=0"
            )
        c = self.curve()
        tp, fp = c["tp"], c["fp"]
        if (self.gt_true_score_hist.sum() <= 0) or ((tp + fp) <= 0).all():
            raise ValueError(
                "PxAP needs at least one foreground and one scored pixel. "
                f"Received: {int(self.gt_true_score_hist.sum())} foreground "
                "pixels"
            )
        non_zero = (tp + fp) != 0
        auc = (c["precision"][1:] * np.diff(c["recall"]))[non_zero[1:]].sum()
        return float(auc * 100)
