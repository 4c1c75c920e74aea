"""The centred-Gaussian baseline: a fixed map that every method must beat.

Choe et al. (CVPR 2020) report a "center baseline": the same isotropic
Gaussian at the image centre for every image, with no model. Thresholded
at every CAM threshold it yields centred boxes of every size, so on data
whose objects sit near the centre it scores well. `best_center_gaussian`
evaluates a range of widths on a split and keeps the best one: a bound
chosen in the baseline's favour, for the rule "a method must beat the best
centred Gaussian on the same split".
"""

import numpy as np

from wsol_tf.evaluation.runner import evaluate_model

# Gaussian sigma as a fraction of the image side.
DEFAULT_SIGMA_FRACTIONS = (0.125, 0.25, 0.5, 1.0)


class CenterGaussian:
    """A model stand-in whose CAM is one fixed centred Gaussian.

    `compute_cams(images, class_ids)` returns one-hot logits of the given
    labels (so Top-1 Loc equals GT-known Loc, and Top-1 Cls is meaningless:
    the baseline is not a classifier) and, for every image, the map
    `exp(-d^2 / (2 sigma^2))` over pixel centres, `d` the distance to the
    image centre and `sigma = sigma_fraction * side`.

    Args:
        num_classes: int, width of the one-hot logits.
        sigma_fraction: float > 0, sigma as a fraction of the image side.
    """

    def __init__(self, num_classes, sigma_fraction=0.25):
        if not sigma_fraction > 0:
            raise ValueError(
                "Expected sigma_fraction > 0. "
                f"Received: sigma_fraction={sigma_fraction}"
            )
        self.num_classes = int(num_classes)
        self.sigma_fraction = float(sigma_fraction)

    def gaussian(self, height, width):
        yy, xx = np.mgrid[:height, :width] + 0.5
        sigma = self.sigma_fraction * max(height, width)
        d2 = (yy - height / 2.0) ** 2 + (xx - width / 2.0) ** 2
        return np.exp(-d2 / (2.0 * sigma**2)).astype(np.float32)

    def compute_cams(self, images, class_ids=None):
        labels = np.asarray(class_ids).reshape(-1)
        logits = np.eye(self.num_classes, dtype=np.float32)[labels]
        height, width = (int(s) for s in images.shape[1:3])
        cams = np.broadcast_to(
            self.gaussian(height, width), (len(labels), height, width)
        )
        return logits, np.ascontiguousarray(cams)


def best_center_gaussian(
    dataset,
    num_classes,
    eval_config=None,
    sigma_fractions=DEFAULT_SIGMA_FRACTIONS,
    key="maxboxaccv2",
):
    """Evaluates centred Gaussians of several widths; returns the best.

    Args:
        dataset: evaluation batches (`build_dataset(..., training=False)`).
        num_classes: int.
        eval_config: `EvalConfig` of the comparison.
        sigma_fractions: widths to try (fractions of the image side).
        key: the metric that picks the best width (`"maxboxaccv2"`, or
            `"pxap"` on a mask split).

    Returns:
        dict: `"best"` (the metrics dict of the best width, with
        `"sigma_fraction"`; `top1_cls` / `top1_loc` set to None) and
        `"per_sigma"` (`{sigma_fraction: metrics}`).
    """
    per_sigma = {}
    for fraction in sigma_fractions:
        metrics = evaluate_model(
            CenterGaussian(num_classes, fraction), dataset, eval_config
        )
        metrics["top1_cls"] = None  # labels given: not a classifier
        metrics["top1_loc"] = None
        metrics["sigma_fraction"] = float(fraction)
        per_sigma[float(fraction)] = metrics
    best = max(per_sigma.values(), key=lambda m: m[key])
    return {"best": best, "per_sigma": per_sigma}
