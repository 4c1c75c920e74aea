"""Fast, exact MaxBoxAcc / MaxBoxAccV2 (wsolevaluation `BoxEvaluator`)."""

import os

import numpy as np

from wsol_tf import box_ops
from wsol_tf.evaluation import reference
from wsol_tf.evaluation._parallel import MODES
from wsol_tf.evaluation._parallel import parallel_map
from wsol_tf.evaluation.cam_ops import check_scoremap
from wsol_tf.evaluation.cam_to_boxes import largest_contour_boxes
from wsol_tf.evaluation.cam_to_boxes import levels_table
from wsol_tf.evaluation.cam_to_boxes import to_uint8

try:  # the C kernel of the MaxBoxAccV2 path, built by setup.py
    from wsol_tf.evaluation import _fastboxes
except ImportError:  # reported by BoxEvaluator(backend="fast")
    _fastboxes = None

# "fast": the C kernel `_fastboxes` (MaxBoxAccV2) or OpenCV once per
# distinct integer level (V1); "reference": the literal wsolevaluation loop
# (`reference.py`), per image and threshold (the oracle, slow).
BACKENDS = ("fast", "reference")


def default_workers():
    """Number of CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover (macOS / Windows)
        return max(1, os.cpu_count() or 1)


def _check_kernel():
    if _fastboxes is None:
        raise ImportError(
            "The C kernel wsol_tf.evaluation._fastboxes is not built: run "
            "`pip install -e .` or `python setup.py build_ext --inplace` in "
            "the wsol_tf checkout (needs a C compiler)."
        )


def _reference_best_iou(maps, thresholds, gt, gt_valid, multi_contour):
    """Best IoU [n, T] from the literal wsolevaluation loop, map by map."""
    return np.stack(
        [
            reference.best_iou_at_thresholds(
                scoremap, boxes[valid], thresholds, multi_contour
            )
            for scoremap, boxes, valid in zip(maps, gt, gt_valid)
        ]
    )


def _chunk_best_iou(maps, thresholds, gt, gt_valid, multi_contour, backend, sl):
    """Best IoU [n, T] of the maps `sl` at every CAM threshold."""
    maps, gt, gt_valid = maps[sl], gt[sl], gt_valid[sl]
    if backend == "reference":
        return _reference_best_iou(
            maps, thresholds, gt, gt_valid, multi_contour
        )
    # uint8 maps per chunk, in the worker: small reused buffers, in parallel.
    s8 = np.empty(maps.shape, np.uint8)
    for i, scoremap in enumerate(maps):  # small temporaries
        s8[i] = to_uint8(scoremap)
    levels, n_levels, index = levels_table(
        thresholds, s8.reshape(len(s8), -1).max(axis=1)
    )
    if multi_contour:
        best = np.full(levels.shape, -1.0)
        _fastboxes.best_iou(  # releases the GIL: threads run in parallel
            s8,
            levels,
            np.ascontiguousarray(n_levels),
            np.ascontiguousarray(gt),
            np.ascontiguousarray(gt_valid),
            best,
        )
    else:
        boxes, image, level = largest_contour_boxes(s8, levels, n_levels)
        best = box_ops.best_iou_per_level(
            boxes, image, level, gt, gt_valid, levels.shape[1]
        )
    return np.take_along_axis(best, index, axis=1)


def curve_best_thresholds(curve):
    """dict IoU threshold -> CAM threshold of the curve's maximum (first)."""
    thresholds = curve["thresholds"]
    return {
        t: float(thresholds[int(np.argmax(acc))])
        for t, acc in curve["box_acc"].items()
    }


class BoxEvaluator:
    """MaxBoxAcc over CAM thresholds, numerically identical to wsolevaluation.

    Per map and CAM threshold `t` in `np.arange(0, 1, cam_curve_interval)`:
    `S8 = uint8(map * 255)`, foreground `S8 > int(t * max(S8))`, boxes of
    all contours incl. holes (`multi_contour_eval=True`, MaxBoxAccV2) or of
    the largest one (V1), `(x, y, min(x + w, W - 1), min(y + h, H - 1))`,
    `[0, 0, 0, 0]` without foreground. A map is correct at `(t, delta)` iff
    the best IoU (inclusive +1 convention) over its boxes and GT boxes is
    `>= delta / 100`. `MaxBoxAcc(delta) = max_t 100 * #correct / #maps`,
    each delta with its own best `t`; "mean" over the deltas is MaxBoxAccV2.

    With `backend="fast"`, the multi-contour boxes of all thresholds come
    from one pass of the C kernel `_fastboxes` (two union-finds over the
    map's pixels, see `_fastboxes.c`) instead of one `cv2.findContours` per
    threshold; V1 calls `cv2.findContours` once per distinct integer
    threshold. `backend="reference"` runs the literal wsolevaluation loop
    (`reference.py`) instead: same results, the oracle of the tests. Batches
    are split over `num_workers` threads or processes.

    Args:
        iou_thresholds: IoU thresholds in percent.
        cam_curve_interval: step of the CAM threshold grid, in (0, 1).
        multi_contour_eval: all contours (True) or the largest one (False).
        num_workers: parallel workers for `accumulate_batch`; None = the
            CPU cores available.
        chunk_size: maps per work item.
        parallel: "auto" (threads for the C kernel; otherwise forked
            worker processes unless TensorFlow / PyTorch / JAX is
            imported, then threads), "process" or "thread".
        cam_thresholds: optional explicit ascending CAM thresholds in
            [0, 1) replacing the grid (e.g. `[0.2]` for a fixed threshold).
        backend: "fast" (the C kernel for MaxBoxAccV2; raises ImportError
            when it is not built) or "reference" (the literal loop).

    Example:
    >>> ev = BoxEvaluator(cam_curve_interval=0.1)
    >>> m = np.zeros((8, 8)); m[2:5, 2:5] = 1.0
    >>> _ = ev.accumulate(m, [[2, 2, 5, 5]])
    >>> ev.compute()[50]
    100.0

    Reference:
        Choe et al., "Evaluating Weakly Supervised Object Localization
        Methods Right", CVPR 2020 (github.com/clovaai/wsolevaluation).
    """

    def __init__(
        self,
        iou_thresholds=(30, 50, 70),
        cam_curve_interval=0.01,
        multi_contour_eval=True,
        num_workers=None,
        chunk_size=16,
        cam_thresholds=None,
        parallel="auto",
        backend="fast",
    ):
        thresholds = tuple(int(t) for t in iou_thresholds)
        if not thresholds or any(
            t != d or not 0 < t <= 100
            for t, d in zip(thresholds, iou_thresholds)
        ):
            raise ValueError(
                "Expected `iou_thresholds` to be a non-empty list of integer "
                "percents in (0, 100]. "
                f"Received: iou_thresholds={iou_thresholds}"
            )
        if not 0 < cam_curve_interval < 1:
            raise ValueError(
                "Expected `cam_curve_interval` in (0, 1). "
                f"Received: cam_curve_interval={cam_curve_interval}"
            )
        if parallel not in MODES:
            raise ValueError(
                f"Expected `parallel` in {MODES}. "
                f"Received: parallel={parallel!r}"
            )
        if backend not in BACKENDS:
            raise ValueError(
                f"Expected `backend` in {BACKENDS}. "
                f"Received: backend={backend!r}"
            )
        if backend == "fast" and multi_contour_eval:
            _check_kernel()
        if num_workers is not None and num_workers < 1:
            raise ValueError(
                f"Expected `num_workers` >= 1 or None. "
                f"Received: num_workers={num_workers}"
            )
        self.iou_thresholds = thresholds
        self.cam_curve_interval = cam_curve_interval
        self.multi_contour_eval = bool(multi_contour_eval)
        self.num_workers = num_workers or default_workers()
        self.chunk_size = int(chunk_size)
        self.parallel = parallel
        self.backend = backend
        if cam_thresholds is None:
            self.cam_thresholds = np.arange(0, 1, cam_curve_interval)
        else:
            self.cam_thresholds = np.asarray(cam_thresholds, np.float64).ravel()
            t = self.cam_thresholds
            if (
                t.size == 0
                or (t < 0).any()
                or (t >= 1).any()
                or (np.diff(t) < 0).any()
            ):
                raise ValueError(
                    "Expected non-empty ascending `cam_thresholds` in [0, 1). "
                    f"Received: cam_thresholds={cam_thresholds}"
                )
        self.reset()

    @classmethod
    def from_eval_config(cls, eval_config, **kwargs):
        """The evaluator of an `EvalConfig`'s box protocol (IoU levels, CAM
        threshold step, multi-contour); `kwargs` go to the constructor."""
        return cls(
            iou_thresholds=eval_config.iou_thresholds,
            cam_curve_interval=eval_config.cam_curve_interval,
            multi_contour_eval=eval_config.multi_contour_eval,
            **kwargs,
        )

    def reset(self):
        """Forgets all accumulated maps."""
        self.num_correct = np.zeros(
            (len(self.iou_thresholds), self.cam_thresholds.size), np.int64
        )
        self.count = 0
        self._hits = []  # packed bool [n, n_iou, T] per accumulate call

    def accumulate(self, scoremap, gt_boxes):
        """Adds one map.

        Args:
            scoremap: float array [H, W] in [0, 1] (resized + normalised).
            gt_boxes: int array [K, 4] of x0, y0, x1, y1 in the map's pixels.

        Returns:
            float64 array [T]: best IoU of the map at every CAM threshold.
        """
        scoremap = check_scoremap(scoremap)
        return self.accumulate_batch(scoremap[None], [gt_boxes])[0]

    def accumulate_batch(self, scoremaps, gt_boxes):
        """Adds a batch of maps of one shape, in parallel.

        Args:
            scoremaps: float array [N, H, W] in [0, 1].
            gt_boxes: list of N int arrays [K_i, 4], or an int array
                [N, K, 4] whose rows of -1 are padding.

        Returns:
            float64 array [N, T]: best IoU per map and CAM threshold.
        """
        scoremaps = np.asarray(scoremaps)
        if scoremaps.ndim != 3 or 0 in scoremaps.shape:
            raise ValueError(
                "Expected `scoremaps` of shape [N, H, W]. "
                f"Received: scoremaps.shape={scoremaps.shape}"
            )
        scoremaps = check_scoremap(
            scoremaps.reshape(-1, scoremaps.shape[-1]), "scoremaps"
        ).reshape(scoremaps.shape)
        n, height, width = scoremaps.shape
        if len(gt_boxes) != n:
            raise ValueError(
                f"Expected one GT box array per map ({n}). "
                f"Received: len(gt_boxes)={len(gt_boxes)}"
            )
        boxes = [
            box_ops.check_gt_boxes(b, height, width, f"gt_boxes[{i}]")
            for i, b in enumerate(gt_boxes)
        ]
        k_max = max(len(b) for b in boxes)
        gt = np.zeros((n, k_max, 4), np.int64)
        valid = np.zeros((n, k_max), bool)
        for i, b in enumerate(boxes):
            gt[i, : len(b)] = b
            valid[i, : len(b)] = True
        step = self.chunk_size
        jobs = [slice(i, min(i + step, n)) for i in range(0, n, step)]
        multi = self.multi_contour_eval
        args = (scoremaps, self.cam_thresholds, gt, valid, multi, self.backend)
        mode = self.parallel
        if multi and self.backend == "fast" and mode == "auto":
            mode = "thread"  # the C kernel runs without the GIL
        parts = parallel_map(
            _chunk_best_iou, args, jobs, self.num_workers, mode
        )
        best = np.concatenate(parts)
        hits = best[:, None, :] >= (
            np.array(self.iou_thresholds, np.float64)[None, :, None] / 100
        )
        self.num_correct += hits.sum(axis=0)
        self.count += n
        self._hits.append(np.packbits(hits, axis=-1))
        return best

    def _check_not_empty(self):
        if self.count == 0:
            raise ValueError(
                "No score maps accumulated: call accumulate() first. "
                "Received: count=0"
            )

    @property
    def box_acc(self):
        """dict IoU threshold -> BoxAcc (%) at every CAM threshold."""
        self._check_not_empty()
        acc = self.num_correct * 100.0 / float(self.count)
        return {t: acc[i] for i, t in enumerate(self.iou_thresholds)}

    def compute(self):
        """dict IoU threshold -> MaxBoxAcc (%), plus "mean" over them."""
        result = {t: float(a.max()) for t, a in self.box_acc.items()}
        result["mean"] = float(
            np.average([result[t] for t in self.iou_thresholds])
        )
        return result

    def best_thresholds(self):
        """dict IoU threshold -> CAM threshold of MaxBoxAcc (first best)."""
        return curve_best_thresholds(self.curve())

    def curve(self):
        """The BoxAcc curves: {"thresholds": [T], "box_acc": {delta: [T]}}."""
        return {
            "thresholds": self.cam_thresholds.copy(),
            "box_acc": self.box_acc,
        }

    def image_hits(self, iou_threshold=50):
        """bool [count, T]: map i correct at CAM threshold t for the delta."""
        if iou_threshold not in self.iou_thresholds:
            raise ValueError(
                f"Expected one of {self.iou_thresholds}. "
                f"Received: iou_threshold={iou_threshold}"
            )
        self._check_not_empty()
        k = self.iou_thresholds.index(iou_threshold)
        size = self.cam_thresholds.size
        return np.concatenate(
            [np.unpackbits(h[:, k], axis=-1, count=size) for h in self._hits]
        ).astype(bool)
