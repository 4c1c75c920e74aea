import numpy as np
import pytest

from wsol_tf.config import EvalConfig
from wsol_tf.evaluation.baselines import CenterGaussian
from wsol_tf.evaluation.baselines import best_center_gaussian


def test_gaussian_map_by_formula():
    model = CenterGaussian(3, sigma_fraction=0.25)
    logits, cams = model.compute_cams(np.zeros((2, 8, 8, 3)), [2, 0])
    np.testing.assert_array_equal(logits, [[0, 0, 1], [1, 0, 0]])
    # Pixel (row 0, col 3): centre (0.5, 3.5), image centre (4, 4), sigma 2.
    expected = np.exp(-((0.5 - 4) ** 2 + (3.5 - 4) ** 2) / (2 * 2.0**2))
    assert cams.shape == (2, 8, 8)
    assert cams[0, 0, 3] == pytest.approx(expected, rel=1e-6)
    assert cams[1, 3, 3] == cams[1, 4, 4] == cams.max()  # the 4 centre pixels
    with pytest.raises(ValueError, match="sigma_fraction"):
        CenterGaussian(3, sigma_fraction=0)


def _batch(boxes, size=32):
    return {
        "images": np.zeros((len(boxes), size, size, 3), np.float32),
        "labels": np.zeros(len(boxes), np.int64),
        "boxes": np.asarray(boxes, np.int64)[:, None, :],
    }


def test_best_center_gaussian_hits_centred_boxes_and_misses_corner_ones():
    centred = [[8, 8, 23, 23]] * 2  # the 16x16 box around the centre
    corner = [[0, 0, 7, 7]] * 2
    config = EvalConfig(cam_curve_interval=0.01, iou_thresholds=(50,))
    out = best_center_gaussian([_batch(centred)], 1, config)
    assert out["best"]["maxboxaccv2"] == 100.0
    assert set(out["per_sigma"]) == {0.125, 0.25, 0.5, 1.0}
    assert out["best"]["top1_cls"] is None
    corner_out = best_center_gaussian([_batch(corner)], 1, config)
    # An 8x8 corner box has IoU < 0.5 with any centred box.
    assert corner_out["best"]["maxboxaccv2"] == 0.0
