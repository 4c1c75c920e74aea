"""BoxEvaluator: hand-computed MaxBoxAcc and hit-for-hit agreement with
the literal wsolevaluation loop (`reference.py`)."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from wsol_tf.evaluation import FALLBACK_CAM_THRESHOLD
from wsol_tf.evaluation import best_thresholds
from wsol_tf.evaluation import serving_threshold
from wsol_tf.evaluation.box_evaluator import BoxEvaluator
from wsol_tf.evaluation.reference import ReferenceBoxEvaluator


def _square_ring_map():
    """1.0 on rows/cols 2..5, 0.5 on the ring 1..6 around it (10x10)."""
    m = np.zeros((10, 10))
    m[1:7, 1:7] = 0.5
    m[2:6, 2:6] = 1.0
    return m


def test_maxboxacc_hand_computed_and_per_delta_thresholds():
    # At t < 0.5 the box is the 6x6 block (1, 1, 7, 7); at t >= 0.5
    # (level 127, S8 of 0.5 is 127: not foreground) the 4x4 block
    # (2, 2, 6, 6). IoU: 49 vs 25 px -> 25 / 49 = 0.51; [2,2,4,4] is 9 px.
    m = _square_ring_map()
    gts = [[[1, 1, 7, 7]], [[2, 2, 6, 6]], [[2, 2, 4, 4]]]
    ev = BoxEvaluator(cam_curve_interval=0.1, num_workers=1)
    best = ev.accumulate_batch(np.stack([m, m, m]), gts)
    low, high = slice(0, 5), slice(5, 10)  # t = 0.0..0.4 / 0.5..0.9
    assert np.allclose(best[0, low], 1.0) and np.allclose(
        best[0, high], 25 / 49
    )
    assert np.allclose(best[1, low], 25 / 49) and np.allclose(
        best[1, high], 1.0
    )
    assert np.allclose(best[2, low], 9 / 49) and np.allclose(
        best[2, high], 9 / 25
    )
    # delta 30: 2/3 at low t, 3/3 at high t; delta 50: 2/3 and 2/3;
    # delta 70: 1/3 and 1/3.
    assert ev.num_correct[:, 0].tolist() == [2, 2, 1]
    assert ev.num_correct[:, 9].tolist() == [3, 2, 1]
    result = ev.compute()
    assert result[30] == 100.0
    assert result[50] == pytest.approx(200 / 3)
    assert result[70] == pytest.approx(100 / 3)
    assert result["mean"] == pytest.approx((100 + 200 / 3 + 100 / 3) / 3)
    # Each delta picks its own (first) best threshold.
    assert ev.best_thresholds() == {30: 0.5, 50: 0.0, 70: 0.0}
    curve = ev.curve()
    assert curve["box_acc"][30].tolist() == [200 / 3] * 5 + [100.0] * 5
    assert ev.image_hits(30)[2].tolist() == [False] * 5 + [True] * 5


def test_several_gt_boxes_take_the_best():
    m = np.zeros((20, 20))
    m[1:5, 1:5] = 1.0
    m[10:18, 10:18] = 1.0
    ev = BoxEvaluator(cam_curve_interval=0.5, num_workers=1)
    # Boxes (1, 1, 5, 5) and (10, 10, 18, 18); the second GT matches the
    # second blob exactly, the first GT matches nothing.
    best = ev.accumulate(m, [[0, 0, 19, 2], [10, 10, 18, 18]])
    assert best.tolist() == [1.0, 1.0]
    ev2 = BoxEvaluator(cam_curve_interval=0.5, num_workers=1)
    only_first = ev2.accumulate(m, [[0, 0, 19, 2]])
    assert (only_first < 1.0).all()


def test_v1_vs_v2_on_two_blobs():
    m = np.zeros((20, 20))
    m[2:12, 2:12] = 1.0  # big
    m[15:18, 15:18] = 1.0  # small; the GT box
    gt = [[15, 15, 18, 18]]
    v2 = BoxEvaluator(cam_curve_interval=0.5, num_workers=1)
    v1 = BoxEvaluator(
        cam_curve_interval=0.5, multi_contour_eval=False, num_workers=1
    )
    assert v2.accumulate(m, gt).tolist() == [1.0, 1.0]
    assert v1.accumulate(m, gt).tolist() == [0.0, 0.0]
    assert v2.compute()[50] == 100.0 and v1.compute()[50] == 0.0


def test_constant_and_zero_maps_give_the_zero_box():
    ev = BoxEvaluator(cam_curve_interval=0.25, num_workers=1)
    best = ev.accumulate(np.zeros((10, 10)), [[0, 0, 9, 9]])
    assert best.tolist() == [1 / 100] * 4  # box (0, 0, 0, 0) at every t


def _fuzz_maps(rng, n, size):
    maps = []
    for i in range(n):
        kind = i % 5
        if kind == 0:  # smooth blobs, like real CAMs
            g = rng.random((rng.integers(3, 9),) * 2)
            m = cv2.resize(g, (size, size), interpolation=cv2.INTER_CUBIC)
        elif kind == 1:  # noise
            m = rng.random((size, size))
        elif kind == 2:  # blocky plateaus
            g = rng.random((rng.integers(2, 6),) * 2)
            m = cv2.resize(g, (size, size), interpolation=cv2.INTER_NEAREST)
        elif kind == 3:  # rings / holes at several levels
            yy, xx = np.mgrid[:size, :size] - size / 2
            m = np.cos(
                np.hypot(yy, xx) / rng.uniform(1.5, 4)
            ) + 0.1 * rng.random((size, size))
        else:  # sparse spikes
            m = (rng.random((size, size)) < 0.2) * rng.random((size, size))
        m = m - m.min()
        if m.max() > 0:
            m = m / m.max() * (1.0 if i % 7 else 0.6)
        maps.append(m)
    return np.stack(maps)


def _random_boxes(rng, n, size):
    out = []
    for _ in range(n):
        k = int(rng.integers(1, 4))
        xy = np.sort(rng.integers(0, size, (k, 2, 2)), axis=1)
        out.append(
            np.stack([xy[:, 0, 0], xy[:, 0, 1], xy[:, 1, 0], xy[:, 1, 1]], 1)
        )
    return out


def _compare(maps, boxes, interval, multi):
    ref = ReferenceBoxEvaluator(
        cam_curve_interval=interval, multi_contour_eval=multi
    )
    ref_best = np.stack([ref.accumulate(m, b) for m, b in zip(maps, boxes)])
    fast = BoxEvaluator(
        cam_curve_interval=interval,
        multi_contour_eval=multi,
        num_workers=2,
        chunk_size=7,
    )
    best = fast.accumulate_batch(maps, boxes)
    assert np.array_equal(best, ref_best)  # same IoU, bit for bit
    ref_counts = np.stack([ref.num_correct[t] for t in (30, 50, 70)])
    assert np.array_equal(fast.num_correct, ref_counts)
    assert [fast.compute()[t] for t in (30, 50, 70)] == [
        float(v) for v in ref.compute()
    ]


def test_fast_equals_reference_fuzz_v2():
    rng = np.random.default_rng(0)
    maps = _fuzz_maps(rng, 30, 32)
    _compare(maps, _random_boxes(rng, 30, 32), 0.01, True)


def test_fast_equals_reference_realistic_224():
    rng = np.random.default_rng(1)
    maps = []
    for _ in range(3):
        g = rng.random((14, 14))
        m = cv2.resize(g, (224, 224), interpolation=cv2.INTER_CUBIC)
        maps.append((m - m.min()) / (m.max() - m.min()))
    _compare(np.stack(maps), _random_boxes(rng, 3, 224), 0.01, True)


def test_fast_equals_reference_fine_interval_v1_and_float32():
    rng = np.random.default_rng(2)
    maps = _fuzz_maps(rng, 10, 20)
    boxes = _random_boxes(rng, 10, 20)
    _compare(maps[:3], boxes[:3], 0.001, True)
    _compare(maps, boxes, 0.05, False)
    _compare(maps.astype(np.float32), boxes, 0.01, True)


def test_non_square_maps():
    rng = np.random.default_rng(3)
    maps = _fuzz_maps(rng, 10, 24)[:, :, 5:19]
    boxes = [
        np.minimum(b, [13, 23, 13, 23]) for b in _random_boxes(rng, 10, 24)
    ]
    _compare(maps, boxes, 0.02, True)


def test_padded_gt_array():
    m = np.zeros((8, 8))
    m[1:4, 1:4] = 1.0
    ev = BoxEvaluator(cam_curve_interval=0.5, num_workers=1)
    gt = np.array(
        [[[1, 1, 4, 4], [-1, -1, -1, -1]], [[5, 5, 6, 6], [1, 1, 4, 4]]]
    )
    best = ev.accumulate_batch(np.stack([m, m]), gt)
    assert best.tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_bad_input():
    ev = BoxEvaluator(num_workers=1)
    with pytest.raises(ValueError, match="count=0"):
        ev.compute()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ev.accumulate(np.full((4, 4), 2.0), [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match="NaN"):
        ev.accumulate(np.full((4, 4), np.nan), [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match="2-D"):
        ev.accumulate(np.zeros((2, 4, 4)), [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match=r"\[N, H, W\]"):
        ev.accumulate_batch(np.zeros((4, 4)), [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match="inside"):
        ev.accumulate(np.zeros((4, 4)), [[0, 0, 5, 1]])
    with pytest.raises(ValueError, match="one GT box array per map"):
        ev.accumulate_batch(np.zeros((2, 4, 4)), [[[0, 0, 1, 1]]])
    assert ev.count == 0  # nothing was accumulated by the failed calls
    with pytest.raises(ValueError, match="iou_thresholds"):
        BoxEvaluator(iou_thresholds=(50.5,))
    with pytest.raises(ValueError, match="cam_curve_interval"):
        BoxEvaluator(cam_curve_interval=0)
    with pytest.raises(ValueError, match="cam_thresholds"):
        BoxEvaluator(cam_thresholds=[0.5, 0.2])


@pytest.mark.integration
def test_forked_workers_match_threads():
    # A fresh interpreter that has run no TensorFlow op: "process" forks
    # worker processes there ("auto" would pick threads once TensorFlow is
    # imported, as `import wsol_tf` does).
    script = (
        "import sys, numpy as np\n"
        "sys.path.insert(0, %r)\n"
        "from wsol_tf.evaluation.box_evaluator import BoxEvaluator\n"
        "from wsol_tf.evaluation import _parallel\n"
        "rng = np.random.default_rng(0)\n"
        "maps = rng.random((12, 16, 16))\n"
        "gt = [[[2, 2, 9, 9]]] * 12\n"
        "kw = dict(num_workers=2, chunk_size=3)\n"
        "ev = BoxEvaluator(parallel='process', **kw)\n"
        "a = ev.accumulate_batch(maps, gt)\n"
        "ev = BoxEvaluator(parallel='thread', **kw)\n"
        "b = ev.accumulate_batch(maps, gt)\n"
        "assert np.array_equal(a, b)\n"
        "print('ok', _parallel.fork_available())\n"
    ) % os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


def test_serving_threshold_rule_and_best_thresholds_of_metrics():
    assert serving_threshold({30: 0.1, 50: 0.25, 70: 0.4}) == 0.25
    assert serving_threshold({30: 0.1, 70: 0.4}) == 0.1  # no IoU 50: first
    assert serving_threshold({}) == FALLBACK_CAM_THRESHOLD == 0.5
    assert serving_threshold(None) == 0.5
    logs = {
        "val_best_threshold_30": 0.1,
        "val_best_threshold_50": 0.2,
        "val_maxboxacc_50": 3.0,
        "best_threshold_50": 0.9,
    }
    assert best_thresholds(logs, prefix="val_") == {30: 0.1, 50: 0.2}
    assert best_thresholds(logs) == {50: 0.9}


def test_from_eval_config_takes_the_configs_box_protocol():
    from wsol_tf.config import EvalConfig

    config = EvalConfig(
        iou_thresholds=(50, 70),
        cam_curve_interval=0.1,
        multi_contour_eval=False,
    )
    ev = BoxEvaluator.from_eval_config(config, num_workers=1)
    assert ev.iou_thresholds == (50, 70)
    assert ev.cam_curve_interval == 0.1 and not ev.multi_contour_eval
    assert ev.num_workers == 1
    np.testing.assert_allclose(ev.cam_thresholds, np.arange(0, 1, 0.1))
