"""Text a training run reports: protocol settings, metrics tables."""

import numpy as np


def protocol_settings(data_config, eval_config, split):
    """The evaluation settings a reported number depends on (spec 4)."""
    return {
        "split": split,
        "dataset_name": data_config.dataset_name,
        "metadata_root": data_config.metadata_root,
        "eval_image_size": data_config.eval_image_size,
        "image_resize": "squash to eval_image_size (no centre crop)",
        "cam_class": "ground truth (MaxBoxAcc); top-1 for Top-1 Loc",
        "cam_resize": "cv2.resize INTER_CUBIC to eval_image_size",
        "cam_normalization": "min-max; NaN or constant map -> zeros",
        "cam_curve_interval": eval_config.cam_curve_interval,
        "multi_contour_eval": eval_config.multi_contour_eval,
        "iou_thresholds": list(eval_config.iou_thresholds),
        "loc_threshold": eval_config.loc_threshold,
        "gt_boxes": "rescaled to eval_image_size with int truncation",
    }


def _metric_label(key):
    """Display name of an `evaluate_model` key (e.g. maxboxacc_50)."""
    names = {
        "maxboxaccv2": "MaxBoxAccV2 (mean)",
        "maxboxacc_mean": "MaxBoxAcc (mean, V1)",
        "gt_known_loc": "GT-known Loc",
        "top1_loc": "Top-1 Loc",
        "top1_cls": "Top-1 Cls",
        "pxap": "PxAP",
        "loc_threshold": "Loc CAM threshold",
        "num_images": "images",
    }
    if key in names:
        return names[key]
    if key.startswith("maxboxacc_"):
        return f"MaxBoxAcc IoU {key.rsplit('_', 1)[1]}"
    if key.startswith("best_threshold_"):
        return f"best CAM threshold IoU {key.rsplit('_', 1)[1]}"
    return key


def format_metrics_table(metrics, title):
    """A plain-text table: MaxBoxAcc rows, Loc / Cls / PxAP, thresholds."""

    def rank(key):
        for i, prefix in enumerate(
            (
                "maxboxacc_",
                "maxboxacc",
                "gt_known",
                "top1_loc",
                "top1_cls",
                "pxap",
                "best_threshold",
                "loc_threshold",
                "num_images",
            )
        ):
            if key.startswith(prefix):
                return (i, len(key), key)
        return (len(key), 99, key)

    keys = [
        k
        for k in sorted(metrics, key=rank)
        if isinstance(metrics[k], (int, float, np.floating, np.integer))
    ]
    width = max([len(_metric_label(k)) for k in keys] + [6])
    lines = [title, f"| {'metric':<{width}} | {'value':>8} |"]
    lines.append(f"|{'-' * (width + 2)}|{'-' * 10}|")
    for key in keys:
        value = float(metrics[key])
        text = f"{value:.0f}" if key == "num_images" else f"{value:.2f}"
        if "threshold" in key:
            text = f"{value:.3f}"
        lines.append(f"| {_metric_label(key):<{width}} | {text:>8} |")
    return "\n".join(lines)
