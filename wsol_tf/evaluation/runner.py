"""`evaluate_model`: the wsolevaluation protocol on a WSOL Keras model."""

import collections
import concurrent.futures
import dataclasses

import keras
import numpy as np

from wsol_tf.config import EvalConfig
from wsol_tf.evaluation.box_evaluator import BoxEvaluator
from wsol_tf.evaluation.cam_ops import scoremaps_from_cams
from wsol_tf.evaluation.localization import LocalizationAccuracy
from wsol_tf.evaluation.mask_evaluator import MaskEvaluator

# CAM threshold of drawn and served boxes when no box curve is available.
FALLBACK_CAM_THRESHOLD = 0.5


def best_thresholds(metrics, prefix=""):
    """dict IoU -> CAM threshold of MaxBoxAcc from `evaluate_model` metrics.

    Args:
        metrics: dict with `<prefix>best_threshold_<t>` keys (e.g. Keras
            logs of `LocalizationMetricsCallback` with prefix "val_").
        prefix: the metric name prefix.

    Returns:
        dict int IoU threshold -> float, in the metrics' order (empty when
        the split had no boxes).
    """
    key = prefix + "best_threshold_"
    return {
        int(name[len(key) :]): float(value)
        for name, value in metrics.items()
        if name.startswith(key)
    }


def serving_threshold(thresholds):
    """CAM threshold of the drawn and served boxes.

    The one of MaxBoxAcc at IoU 50, else of the first IoU threshold;
    `FALLBACK_CAM_THRESHOLD` when there is none (a split without boxes).

    Args:
        thresholds: dict IoU threshold -> CAM threshold (see
            `best_thresholds`, `BoxEvaluator.best_thresholds`), or None.

    Example:
    >>> serving_threshold({30: 0.1, 50: 0.25})
    0.25
    """
    if not thresholds:
        return FALLBACK_CAM_THRESHOLD
    return float(thresholds.get(50, next(iter(thresholds.values()))))


@dataclasses.dataclass
class EvalResult:
    """Everything `evaluate_model(..., return_details=True)` computed.

    Attributes:
        metrics: the flat dict of Python floats `evaluate_model` returns.
        box_curve: `BoxEvaluator.curve()`: CAM thresholds and BoxAcc (%) per
            IoU threshold (None without box annotations).
        loc_curve: GT-known Loc (%) per CAM threshold (None without boxes).
        pxap_curve: pixel precision / recall (None without masks).
    """

    metrics: dict
    box_curve: dict = None
    loc_curve: dict = None
    pxap_curve: dict = None


class _Evaluators:
    """The evaluators of one run, fed batch by batch (not thread-safe)."""

    def __init__(self, config, num_workers):
        self.config = config
        self.box = BoxEvaluator.from_eval_config(
            config, num_workers=num_workers
        )
        share = (
            config.loc_threshold is None
            and config.loc_multi_contour == config.multi_contour_eval
            and 50 in self.box.iou_thresholds
        )
        self.loc = LocalizationAccuracy(
            cam_curve_interval=config.cam_curve_interval,
            threshold=config.loc_threshold,
            multi_contour=config.loc_multi_contour,
            box_evaluator=self.box if share else None,
            num_workers=num_workers,
        )
        self.mask = MaskEvaluator(config.cam_curve_interval)
        self.num_images = 0
        self.num_correct = 0

    def add(self, cams, size, labels, predictions, boxes, masks):
        scoremaps = scoremaps_from_cams(cams, size)
        self.num_images += len(labels)
        self.num_correct += int((labels == predictions).sum())
        has_box = (boxes != -1).any(axis=(1, 2))
        if has_box.any():
            self.box.accumulate_batch(scoremaps[has_box], boxes[has_box])
            self.loc.accumulate_batch(
                scoremaps[has_box],
                boxes[has_box],
                labels[has_box],
                predictions[has_box],
            )
        if masks is not None and self.config.pxap:
            self.mask.accumulate_batch(scoremaps, masks)

    def result(self):
        if self.num_images == 0:
            raise ValueError(
                "The evaluation dataset is empty. Received: 0 images"
            )
        metrics = {}
        result = EvalResult(metrics)
        if self.box.count:
            box = self.box.compute()
            for t in self.box.iou_thresholds:
                metrics[f"maxboxacc_{t}"] = box[t]
            mean_key = (
                "maxboxaccv2"
                if self.box.multi_contour_eval
                else ("maxboxacc_mean")
            )
            metrics[mean_key] = box["mean"]
            for t, value in self.box.best_thresholds().items():
                metrics[f"best_threshold_{t}"] = value
            metrics.update(self.loc.compute())
            result.box_curve = self.box.curve()
            result.loc_curve = self.loc.curve()
        metrics["top1_cls"] = self.num_correct * 100.0 / self.num_images
        if self.mask.count:
            metrics["pxap"] = self.mask.compute()
            result.pxap_curve = self.mask.curve()
        metrics["num_images"] = float(self.num_images)
        return result


def _num_batches(dataset):
    try:
        n = int(dataset.cardinality())
    except (AttributeError, TypeError, ValueError):
        return None
    return n if n > 0 else None


def progress_bar(dataset):
    """A `progress` callable of `evaluate_model`: a Keras progress bar.

    The bar counts the batches of `dataset` with an ETA (a plain count when
    the dataset does not know its length) and shows the images done.

    Example:
    >>> evaluate_model(model, dataset, progress=progress_bar(dataset))
    """
    bar = keras.utils.Progbar(
        _num_batches(dataset), unit_name="batch", stateful_metrics=["images"]
    )
    batches = 0

    def progress(num_images):
        nonlocal batches
        batches += 1
        bar.update(batches, values=[("images", num_images)])

    return progress


def evaluate_model(
    model,
    dataset,
    eval_config=None,
    progress=None,
    return_details=False,
    num_workers=None,
):
    """MaxBoxAcc(V2), GT-known / Top-1 Loc, Top-1 Cls and PxAP of a model.

    For every batch of the evaluation dataset (dicts with "images",
    "labels", "boxes" (-1 padded) and optionally "masks", see
    `wsol_tf.data.build_dataset(..., training=False)`):
    `model.compute_cams(images, labels)` gives the logits and the raw CAM of
    the GT class; each CAM is resized to the image size (cubic) and
    min-max normalised (`scoremaps_from_cams`), then accumulated into a
    `BoxEvaluator` (MaxBoxAcc at `eval_config.iou_thresholds`), a
    `LocalizationAccuracy` (GT-known / Top-1 Loc, see
    `wsol_tf.evaluation.localization` for its settings) and, when the split
    has masks and `eval_config.pxap`, a `MaskEvaluator`. Box search runs in
    a background thread while the model computes the next batch.

    Args:
        model: a `WSOLModel` (anything with `compute_cams(images, labels)`
            returning `(logits [B, C], cams [B, h, w])`).
        dataset: iterable of batch dicts as above (a tf.data.Dataset).
        eval_config: `EvalConfig`; default `EvalConfig()`.
        progress: optional callable `progress(num_images_done)`, called
            after each batch.
        return_details: also return the curves (see `EvalResult`).
        num_workers: threads of the box search; None = all CPU cores.

    Returns:
        dict of Python floats: `maxboxacc_<t>` for each IoU threshold t,
        `maxboxaccv2` (their mean; `maxboxacc_mean` when
        `multi_contour_eval=False`), `best_threshold_<t>`, `gt_known_loc`,
        `top1_loc`, `top1_cls`, `loc_threshold`, `pxap` (splits with masks)
        and `num_images`. Accuracies in percent. With
        `return_details=True`, an `EvalResult` instead.
    """
    config = eval_config if eval_config is not None else EvalConfig()
    config.validate()
    evaluators = _Evaluators(config, num_workers)
    pending = collections.deque()
    done = 0
    with concurrent.futures.ThreadPoolExecutor(1) as background:
        for batch in dataset:
            if not isinstance(batch, dict) or "images" not in batch:
                raise ValueError(
                    "Expected evaluation batches as dicts with 'images', "
                    "'labels', 'boxes' (build_dataset(..., training=False)). "
                    f"Received: {type(batch).__name__}"
                )
            images = batch["images"]
            labels = np.asarray(batch["labels"]).astype(np.int64).reshape(-1)
            logits, cams = model.compute_cams(images, labels)
            predictions = np.asarray(logits).argmax(axis=-1)
            boxes = np.asarray(batch["boxes"]).astype(np.int64)
            masks = batch.get("masks")
            masks = None if masks is None else np.asarray(masks)
            size = tuple(int(s) for s in images.shape[1:3])
            while pending:  # at most one batch in flight
                pending.popleft().result()
            pending.append(
                background.submit(
                    evaluators.add,
                    np.asarray(cams),
                    size,
                    labels,
                    predictions,
                    boxes,
                    masks,
                )
            )
            done += len(labels)
            if progress is not None:
                progress(done)
        while pending:
            pending.popleft().result()
    result = evaluators.result()
    return result if return_details else result.metrics
