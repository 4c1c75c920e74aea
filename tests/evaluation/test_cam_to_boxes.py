"""Hand-drawn maps with hand-computed boxes (protocol conventions)."""

import cv2
import numpy as np
import pytest

from wsol_tf.evaluation.box_evaluator import BoxEvaluator
from wsol_tf.evaluation.cam_to_boxes import cam_to_boxes
from wsol_tf.evaluation.cam_to_boxes import largest_contour_boxes
from wsol_tf.evaluation.cam_to_boxes import levels_table
from wsol_tf.evaluation.cam_to_boxes import to_uint8
from wsol_tf.evaluation.reference import compute_bboxes_from_scoremaps


def _boxes(m, t, multi=True):
    return sorted(map(tuple, cam_to_boxes(m, t, multi).tolist()))


def _fast_boxes(m, t, multi=True):
    """Boxes of BoxEvaluator's all-threshold search at threshold t.

    V1 returns its boxes; the MaxBoxAccV2 C kernel returns only the best
    IoU, so its boxes are recovered by probing every box of the map as the
    GT box: a probe has IoU exactly 1.0 iff it is one of the boxes.
    """
    m = np.asarray(m, np.float64)
    if not multi:
        s8 = to_uint8(m)[None]
        levels, n_levels, index = levels_table([t], s8.max(axis=(1, 2)))
        boxes, _, level = largest_contour_boxes(s8, levels, n_levels)
        return sorted(set(map(tuple, boxes[level == index[0, 0]].tolist())))
    height, width = m.shape
    xs = [(a, b) for a in range(width) for b in range(a, width)]
    ys = [(a, b) for a in range(height) for b in range(a, height)]
    probes = [(x0, y0, x1, y1) for x0, x1 in xs for y0, y1 in ys]
    ev = BoxEvaluator(cam_thresholds=[t], num_workers=1)
    best = ev.accumulate_batch(
        np.broadcast_to(m, (len(probes),) + m.shape), [[p] for p in probes]
    )
    return sorted(p for p, iou in zip(probes, best[:, 0]) if iou == 1.0)


def ring():
    """6x6 square at rows/cols 2..7 with a 2x2 hole at rows/cols 4..5."""
    m = np.zeros((10, 10))
    m[2:8, 2:8] = 1.0
    m[4:6, 4:6] = 0.0
    return m


def test_single_hot_pixel():
    m = np.zeros((10, 10))
    m[2, 2] = 1.0
    # boundingRect (2, 2, 1, 1) -> (x, y, x + w, y + h): the box is one
    # pixel larger than the region on the right / bottom.
    assert _boxes(m, 0.5) == [(2, 2, 3, 3)]
    assert _fast_boxes(m, 0.5) == [(2, 2, 3, 3)]


def test_ring_outer_and_hole_boxes():
    # Outer contour: pixels x, y in 2..7 -> x=2, w=6 -> (2, 2, 8, 8).
    # Hole contour: traced on the foreground pixels 4-adjacent to the hole
    # (4..5), i.e. 3..6 -> x=3, w=4 -> (3, 3, 7, 7).
    expected = [(2, 2, 8, 8), (3, 3, 7, 7)]
    assert _boxes(ring(), 0.5) == expected
    assert _fast_boxes(ring(), 0.5) == expected
    # V1 keeps only the largest contour (the outer one).
    assert _boxes(ring(), 0.5, multi=False) == [(2, 2, 8, 8)]
    assert _fast_boxes(ring(), 0.5, multi=False) == [(2, 2, 8, 8)]


def test_thin_ring_hole_box_equals_outer_box():
    # Ring of width 1 (2..7, hole 3..6): the hole grown by one pixel is the
    # ring's extent, so both contours give (2, 2, 8, 8).
    m = np.zeros((10, 10))
    m[2:8, 2:8] = 1.0
    m[3:7, 3:7] = 0.0
    assert _boxes(m, 0.5) == [(2, 2, 8, 8), (2, 2, 8, 8)]
    assert _fast_boxes(m, 0.5) == [(2, 2, 8, 8)]


def test_box_clipped_at_the_border():
    m = np.zeros((6, 8))
    m[3:6, 5:8] = 1.0  # touches the right and bottom borders
    # x=5, w=3 -> x1 = min(8, 7) = 7; y=3, h=3 -> y1 = min(6, 5) = 5.
    assert _boxes(m, 0.3) == [(5, 3, 7, 5)]
    assert _fast_boxes(m, 0.3) == [(5, 3, 7, 5)]


def test_no_foreground_gives_zero_box():
    zeros = np.zeros((5, 5))
    # t = 0: foreground is S8 > 0, empty for an all-zero map.
    assert _boxes(zeros, 0.0) == [(0, 0, 0, 0)]
    assert _fast_boxes(zeros, 0.0) == [(0, 0, 0, 0)]
    assert _fast_boxes(zeros, 0.7) == [(0, 0, 0, 0)]


def test_threshold_zero_takes_every_positive_pixel():
    m = np.zeros((6, 6))
    m[1, 1] = 0.01  # S8 = 2 > 0
    m[4, 4] = 1.0
    assert _boxes(m, 0.0) == [(1, 1, 2, 2), (4, 4, 5, 5)]
    assert _fast_boxes(m, 0.0) == [(1, 1, 2, 2), (4, 4, 5, 5)]
    assert _fast_boxes(m, 0.01) == [(4, 4, 5, 5)]  # int(0.01 * 255) = 2


def test_strict_threshold():
    m = np.zeros((5, 5))
    m[0, 0] = 1.0
    m[2, 2] = 0.5  # S8 = 127 and int(0.5 * 255) = 127: not foreground
    assert _boxes(m, 0.5) == [(0, 0, 1, 1)]
    assert _fast_boxes(m, 0.5) == [(0, 0, 1, 1)]
    assert _fast_boxes(m, 0.49) == [(0, 0, 1, 1), (2, 2, 3, 3)]  # 124


def test_threshold_relative_to_the_map_maximum():
    m = np.zeros((5, 5))
    m[1, 1] = 0.5  # max(S8) = 127 -> level int(0.5 * 127) = 63
    m[3, 3] = 0.3  # S8 = 76 > 63
    assert _fast_boxes(m, 0.5) == [(1, 1, 2, 2), (3, 3, 4, 4)]
    assert _boxes(m, 0.5) == [(1, 1, 2, 2), (3, 3, 4, 4)]


def test_diagonal_pixels_are_one_component():
    m = np.zeros((6, 6))
    m[1, 1] = m[2, 2] = m[3, 3] = 1.0  # 8-connected
    assert _fast_boxes(m, 0.5) == [(1, 1, 4, 4)]
    assert _boxes(m, 0.5) == [(1, 1, 4, 4)]


def test_diagonal_background_hole():
    # Foreground diamond around (2, 2): the centre reaches the outside only
    # through diagonals; background is 4-connected, so it is a hole.
    m = np.zeros((5, 5))
    for y, x in ((1, 2), (2, 1), (2, 3), (3, 2)):
        m[y, x] = 1.0
    # Outer contour over x, y in 1..3 -> (1, 1, 4, 4); hole pixel (2, 2)
    # grown by one pixel -> 1..3 -> (1, 1, 4, 4) as well.
    assert _boxes(m, 0.5) == [(1, 1, 4, 4), (1, 1, 4, 4)]
    assert _fast_boxes(m, 0.5) == [(1, 1, 4, 4)]


def test_v1_largest_contour_vs_v2():
    m = np.zeros((20, 20))
    m[2:12, 2:12] = 1.0  # big blob
    m[15:18, 15:18] = 1.0  # small blob
    assert _boxes(m, 0.5) == [(2, 2, 12, 12), (15, 15, 18, 18)]
    assert _boxes(m, 0.5, multi=False) == [(2, 2, 12, 12)]
    assert _fast_boxes(m, 0.5, multi=False) == [(2, 2, 12, 12)]


def test_cam_to_boxes_validates_input():
    with pytest.raises(ValueError, match="2-D"):
        cam_to_boxes(np.zeros((2, 3, 3)), 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        cam_to_boxes(np.full((3, 3), 1.5), 0.5)
    with pytest.raises(ValueError, match="NaN"):
        cam_to_boxes(np.full((3, 3), np.nan), 0.5)


def test_levels_table_matches_python_int():
    thresholds = np.arange(0, 1, 0.001)
    s8_max = np.array([255, 127, 1, 0], np.uint8)
    levels, n_levels, index = levels_table(thresholds, s8_max)
    for i, mx in enumerate(s8_max):
        ks = [int(t * mx) for t in thresholds]  # the reference expression
        assert n_levels[i] == len(set(ks))
        assert levels[i, index[i]].tolist() == ks


def test_cam_to_boxes_equals_the_reference_on_random_maps():
    # The literal wsolevaluation boxes, same order, for both contour rules.
    rng = np.random.default_rng(4)
    for i in range(12):
        m = cv2.resize(rng.random((6, 6)), (40, 40), cv2.INTER_CUBIC)
        m = (m - m.min()) / np.ptp(m) * (1.0 if i % 3 else 0.7)
        for t in (0.0, 0.3, 0.55, 0.8):
            for multi in (True, False):
                want = compute_bboxes_from_scoremaps(m, [t], multi)[0][0]
                got = cam_to_boxes(m, t, multi)
                assert got.tolist() == np.asarray(want).tolist()
