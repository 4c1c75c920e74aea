"""Protocol IoU (+1 convention) and GT box validation."""

import numpy as np
import pytest

from wsol_tf.box_ops import best_iou_per_level
from wsol_tf.box_ops import check_gt_boxes
from wsol_tf.box_ops import iou_matrix
from wsol_tf.evaluation.reference import calculate_multiple_iou


def test_iou_hand_computed():
    cases = [
        # [0,0,9,9] is 10x10 = 100 px, [0,0,4,9] is 5x10 = 50 px inside it.
        ([0, 0, 9, 9], [0, 0, 4, 9], 50 / 100),
        ([3, 4, 7, 8], [3, 4, 7, 8], 1.0),  # identical
        # Touching on column 4: intersection 1x5 = 5, union 25 + 25 - 5.
        ([0, 0, 4, 4], [4, 0, 8, 4], 5 / 45),
        ([0, 0, 4, 4], [5, 0, 9, 4], 0.0),  # adjacent, no shared pixel
        ([3, 3, 3, 3], [3, 3, 3, 3], 1.0),  # zero-area (one-pixel) boxes
        ([3, 3, 3, 3], [0, 0, 9, 9], 1 / 100),
        ([0, 0, 0, 0], [0, 0, 9, 9], 1 / 100),  # the "no contour" box
    ]
    for a, b, expected in cases:
        assert iou_matrix([a], [b])[0, 0] == pytest.approx(expected, abs=0)
        assert iou_matrix([b], [a])[0, 0] == pytest.approx(expected, abs=0)


def test_iou_matrix_equals_reference_bitwise():
    rng = np.random.default_rng(0)
    a = np.sort(rng.integers(0, 50, (40, 2, 2)), axis=1)
    a = np.stack([a[:, 0, 0], a[:, 0, 1], a[:, 1, 0], a[:, 1, 1]], 1)
    b = a[::-1][:7]
    assert np.array_equal(iou_matrix(a, b), calculate_multiple_iou(a, b))


def test_best_iou_per_level_max_over_boxes_and_gt():
    boxes = np.array(
        [[0, 0, 4, 9], [0, 0, 9, 9], [20, 20, 29, 29], [0, 0, 0, 0]]
    )
    image = np.array([0, 0, 0, 1])
    level = np.array([0, 0, 1, 0])
    gt = np.array([[[0, 0, 9, 9], [20, 20, 24, 29]], [[5, 5, 9, 9], [-1] * 4]])
    valid = np.array([[True, True], [True, False]])
    best = best_iou_per_level(boxes, image, level, gt, valid, 2)
    # image 0 level 0: [0,0,9,9] matches GT 0 exactly; level 1: [20..29]
    # vs [20,20,24,29] = 50 / 100; image 1: [0,0,0,0] vs [5,5,9,9] = 0;
    # image 1 level 1 has no box: -1.
    assert best.tolist() == [[1.0, 0.5], [0.0, -1.0]]


def test_check_gt_boxes():
    out = check_gt_boxes([[1, 2, 3, 4], [-1, -1, -1, -1]], 10, 10)
    assert out.tolist() == [[1, 2, 3, 4]]
    assert check_gt_boxes([0, 0, 10, 10], 10, 10).tolist() == [[0, 0, 10, 10]]
    bad = {
        "x1 < x0": [[5, 0, 4, 3]],
        "negative": [[-2, 0, 4, 3]],
        "outside": [[0, 0, 11, 3]],
        "padding only": [[-1, -1, -1, -1]],
    }
    for name, boxes in bad.items():
        with pytest.raises(ValueError, match="Received"):
            check_gt_boxes(boxes, 10, 10)
    with pytest.raises(ValueError, match="integer"):
        check_gt_boxes([[0.5, 0, 4, 3]], 10, 10)
    with pytest.raises(ValueError, match="NaN"):
        check_gt_boxes([[np.nan, 0, 4, 3]], 10, 10)
    with pytest.raises(ValueError, match=r"\[K, 4\]"):
        check_gt_boxes([[0, 0, 4]], 10, 10)
