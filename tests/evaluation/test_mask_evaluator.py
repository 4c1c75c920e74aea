"""PxAP against hand-computed precision-recall sums."""

import numpy as np
import pytest

from wsol_tf.evaluation.mask_evaluator import MaskEvaluator


def test_pxap_hand_computed():
    # fg scores {0.9, 0.3}, bg {0.6, 0.1}; edges [0, .5, 1, 2, 3].
    # Descending: tp = [0, 0, 1, 2], fp = [0, 0, 1, 2], P = 2;
    # PxAP = 0.5 * (0.5 - 0) + 0.5 * (1 - 0.5) = 0.5.
    ev = MaskEvaluator(cam_curve_interval=0.5)
    ev.accumulate(
        np.array([[0.9, 0.6], [0.3, 0.1]]), np.array([[1, 0], [1, 0]])
    )
    assert ev.compute() == pytest.approx(50.0)
    assert ev.bin_edges.tolist() == [0.0, 0.5, 1.0, 2.0, 3.0]


def test_ignore_pixels_are_excluded():
    scores = np.array([[0.9, 0.8], [0.2, 0.1]])
    ignored = MaskEvaluator(cam_curve_interval=0.5)
    ignored.accumulate(scores, np.array([[1, 255], [0, 0]], np.uint8))
    # fg {0.9}, bg {0.2, 0.1}: precision 1 at recall 1 -> 100.
    assert ignored.compute() == pytest.approx(100.0)
    counted = MaskEvaluator(cam_curve_interval=0.5)
    counted.accumulate(scores, np.array([[1, 0], [0, 0]], np.uint8))
    # bg {0.8, 0.2, 0.1}: first step precision 1/2 at recall 1 -> 50.
    assert counted.compute() == pytest.approx(50.0)
    extra = MaskEvaluator(cam_curve_interval=0.5)
    extra.accumulate(
        scores, np.array([[1, 0], [0, 0]]), ignore=[[0, 1], [0, 0]]
    )
    assert extra.compute() == pytest.approx(100.0)


def test_matches_numpy_rederivation_over_several_maps():
    rng = np.random.default_rng(0)
    ev = MaskEvaluator(cam_curve_interval=0.01)
    fg_scores, bg_scores = [], []
    for _ in range(4):
        m = rng.random((12, 12))
        mask = (rng.random((12, 12)) < 0.4).astype(np.uint8)
        mask[rng.random((12, 12)) < 0.1] = 255
        ev.accumulate(m, mask)
        fg_scores.append(m[mask == 1])
        bg_scores.append(m[mask == 0])
    fg, bg = np.concatenate(fg_scores), np.concatenate(bg_scores)
    # Step-wise AP over thresholds e in the bin edges, descending.
    edges = np.append(np.arange(0, 1, 0.01), [1.0, 2.0, 3.0])[::-1]
    ap, prev_recall = 0.0, 0.0
    for e in edges[1:]:  # tp_k = #scores >= e_k for k >= 1
        tp, fp = (fg >= e).sum(), (bg >= e).sum()
        recall = tp / fg.size
        if tp + fp:
            ap += tp / (tp + fp) * (recall - prev_recall)
        prev_recall = recall
    assert ev.compute() == pytest.approx(100 * ap, rel=1e-12)


def test_bad_input():
    ev = MaskEvaluator()
    with pytest.raises(ValueError, match="count=0"):
        ev.compute()
    with pytest.raises(ValueError, match="shape"):
        ev.accumulate(np.zeros((3, 3)), np.zeros((3, 4), np.uint8))
    with pytest.raises(ValueError, match="255"):
        ev.accumulate(np.zeros((3, 3)), np.full((3, 3), 7, np.uint8))
    with pytest.raises(ValueError, match="foreground"):
        ev.accumulate(np.zeros((2, 2)), np.zeros((2, 2), np.uint8))
        ev.compute()
