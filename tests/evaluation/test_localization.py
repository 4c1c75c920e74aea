"""GT-known / Top-1 Loc and evaluate_model on hand-made cases."""

import numpy as np
import pytest

from wsol_tf.config import EvalConfig
from wsol_tf.evaluation.localization import LocalizationAccuracy
from wsol_tf.evaluation.runner import evaluate_model


def _map():
    """Box (1, 1, 7, 7) at t < 0.5, box (2, 2, 6, 6) at t >= 0.5."""
    m = np.zeros((10, 10))
    m[1:7, 1:7] = 0.5
    m[2:6, 2:6] = 1.0
    return m


# Map 0: GT (0,0,7,7) (64 px): IoU 49/64 at low t, 25/64 at high t.
# Maps 1, 2: GT (2,2,5,5) (16 px): IoU 16/49 at low t, 16/25 at high t.
GT = [[[0, 0, 7, 7]], [[2, 2, 5, 5]], [[2, 2, 5, 5]]]
LABELS = [0, 1, 2]
PREDICTIONS = [0, 1, 0]  # map 2 misclassified


def test_gt_known_and_top1_at_the_optimal_threshold():
    loc = LocalizationAccuracy(cam_curve_interval=0.1)
    loc.accumulate_batch(np.stack([_map()] * 3), GT, LABELS, PREDICTIONS)
    out = loc.compute()
    # Hits at IoU 0.5: {0} for t <= 0.4, {1, 2} for t >= 0.5.
    assert out["gt_known_loc"] == pytest.approx(200 / 3)
    assert out["loc_threshold"] == 0.5
    assert out["top1_loc"] == pytest.approx(100 / 3)  # only map 1
    assert out["top1_cls"] == pytest.approx(200 / 3)
    curve = loc.curve()["gt_known_loc"]
    assert np.allclose(curve, [100 / 3] * 5 + [200 / 3] * 5)


def test_fixed_threshold():
    loc = LocalizationAccuracy(threshold=0.2)
    loc.accumulate_batch(np.stack([_map()] * 3), GT, LABELS, PREDICTIONS)
    out = loc.compute()
    assert out["gt_known_loc"] == pytest.approx(100 / 3)  # map 0
    assert out["top1_loc"] == pytest.approx(100 / 3)
    assert out["loc_threshold"] == 0.2
    with pytest.raises(ValueError, match="threshold"):
        LocalizationAccuracy(threshold=1.0)


class _FixedCamModel:
    """compute_cams returns the hand-drawn map for every image."""

    def compute_cams(self, images, labels):
        n = len(labels)
        logits = np.eye(3)[np.asarray(PREDICTIONS[:n])]
        return logits, np.stack([_map().astype(np.float32)] * n)


def _dataset(with_masks=False):
    boxes = np.full((3, 2, 4), -1)
    boxes[:, 0] = np.array(GT)[:, 0]
    batch = {
        "images": np.zeros((3, 10, 10, 3), np.float32),
        "labels": np.array(LABELS, np.int32),
        "boxes": boxes.astype(np.int32),
        "image_ids": np.array([b"a", b"b", b"c"]),
    }
    if with_masks:
        mask = np.zeros((3, 10, 10), np.uint8)
        mask[:, 2:6, 2:6] = 1
        batch["masks"] = mask
    return [batch]


def test_evaluate_model_metrics():
    config = EvalConfig(cam_curve_interval=0.1)
    calls = []
    result = evaluate_model(
        _FixedCamModel(),
        _dataset(True),
        config,
        progress=calls.append,
        return_details=True,
    )
    m = result.metrics
    # IoUs at low t: 0.77, 0.33, 0.33; at high t: 0.39, 0.64, 0.64.
    # delta 30: 3/3 at low t. delta 50: 1/3 low, 2/3 high. delta 70: 1/3
    # low (map 0), 0/3 high.
    assert m["maxboxacc_30"] == 100.0
    assert m["maxboxacc_50"] == pytest.approx(200 / 3)
    assert m["maxboxacc_70"] == pytest.approx(100 / 3)
    assert m["maxboxaccv2"] == pytest.approx((100 + 200 / 3 + 100 / 3) / 3)
    assert m["best_threshold_50"] == 0.5
    assert m["gt_known_loc"] == pytest.approx(200 / 3)
    assert m["top1_loc"] == pytest.approx(100 / 3)
    assert m["top1_cls"] == pytest.approx(200 / 3)
    # Mask = the 1.0 block: scores 1.0 exactly separate fg and bg.
    assert m["pxap"] == pytest.approx(100.0)
    assert m["num_images"] == 3.0
    assert all(isinstance(v, float) for v in m.values())
    assert calls == [3]
    assert (
        result.box_curve["box_acc"][50].tolist()
        == [100 / 3] * 5 + [200 / 3] * 5
    )
    v1 = evaluate_model(
        _FixedCamModel(), _dataset(), config.replace(multi_contour_eval=False)
    )
    assert (
        "maxboxacc_mean" in v1 and "maxboxaccv2" not in v1 and "pxap" not in v1
    )


def test_evaluate_model_bad_input():
    with pytest.raises(ValueError, match="empty"):
        evaluate_model(_FixedCamModel(), [], EvalConfig())
    with pytest.raises(ValueError, match="dicts"):
        evaluate_model(_FixedCamModel(), [(np.zeros((1, 4, 4, 3)), [0])])
