"""The C kernel (`_fastboxes`) of BoxEvaluator's MaxBoxAccV2 path against
the literal wsolevaluation loop (`reference.py`), bit for bit. The kernel is
built by setup.py (`python setup.py build_ext --inplace` in a checkout):
these tests fail, never skip, without it."""

import cv2
import numpy as np
import pytest

from wsol_tf.evaluation import _fastboxes
from wsol_tf.evaluation import box_evaluator
from wsol_tf.evaluation.box_evaluator import BoxEvaluator
from wsol_tf.evaluation.reference import ReferenceBoxEvaluator


def _norm(m):
    m = m - m.min()
    return m / m.max() if m.max() > 0 else m


def _realistic(rng, n, size=224):
    """14x14 uniform grids cubic-upsampled and min-max normalised."""
    out = []
    for _ in range(n):
        g = rng.random((14, 14))
        m = cv2.resize(g, (size, size), interpolation=cv2.INTER_CUBIC)
        out.append(_norm(m))
    return out


def _nested_rings(size):
    """Concentric square rings of decreasing value: holes inside holes."""
    m = np.zeros((size, size))
    for r, v in enumerate((0.2, 0.0, 0.5, 0.1, 0.9, 0.0, 1.0)):
        lo, hi = 1 + 2 * r, size - 1 - 2 * r
        if lo < hi:
            m[lo:hi, lo:hi] = v
    m[size // 2, 3:5] = 0.7  # a bridge across one ring
    return m


def _holes_and_diagonals(rng, size):
    """Blocky plateaus with single-pixel holes and diagonal-only links."""
    m = cv2.resize(
        rng.random((4, 4)), (size, size), interpolation=cv2.INTER_NEAREST
    )
    m[rng.random((size, size)) < 0.05] = 0.0
    idx = np.arange(2, size - 2, 3)
    m[idx, idx] = 1.0
    m[idx + 1, idx + 1] = 1.0
    return m


def _boxes(rng, h, w, k=None):
    k = k or int(rng.integers(1, 4))
    xs = np.sort(rng.integers(0, w + 1, (k, 2)), axis=1)
    ys = np.sort(rng.integers(0, h + 1, (k, 2)), axis=1)
    return np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], 1)


def _iou1(a, b):
    """Protocol IoU of two boxes, inclusive pixels, by counting pixels."""
    grid_a = np.zeros((12, 12), bool)
    grid_b = np.zeros((12, 12), bool)
    grid_a[a[1] : a[3] + 1, a[0] : a[2] + 1] = True
    grid_b[b[1] : b[3] + 1, b[0] : b[2] + 1] = True
    return (grid_a & grid_b).sum() / (grid_a | grid_b).sum()


def _check(maps, boxes, interval, **kw):
    """BoxEvaluator (C path) == reference: IoUs, hit counts, compute()."""
    ref = ReferenceBoxEvaluator(cam_curve_interval=interval)
    ref_best = np.stack([ref.accumulate(m, b) for m, b in zip(maps, boxes)])
    ev = BoxEvaluator(cam_curve_interval=interval, **kw)
    shapes = {m.shape for m in maps}
    best = np.concatenate(
        [
            ev.accumulate_batch(
                np.stack([m for m in maps if m.shape == s]),
                [b for m, b in zip(maps, boxes) if m.shape == s],
            )
            for s in sorted(shapes)
        ]
    )
    order = np.concatenate(
        [
            [i for i, m in enumerate(maps) if m.shape == s]
            for s in sorted(shapes)
        ]
    )
    assert np.array_equal(best, ref_best[order])  # bit for bit
    ref_counts = np.stack([ref.num_correct[t] for t in (30, 50, 70)])
    assert np.array_equal(ev.num_correct, ref_counts)
    assert [ev.compute()[t] for t in (30, 50, 70)] == [
        float(v) for v in ref.compute()
    ]
    in_order = np.empty_like(best)
    in_order[order] = best
    return in_order


def test_c_path_is_the_fast_backend():
    assert box_evaluator._fastboxes is _fastboxes
    calls = []
    real = _fastboxes.best_iou

    def spy(*args):
        calls.append(args[0].shape)
        return real(*args)

    m = np.zeros((6, 6))
    m[1:3, 1:3] = 1.0
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_fastboxes, "best_iou", spy)
        ev = BoxEvaluator(cam_curve_interval=0.5, num_workers=1)
        # Box (1, 1, 3, 3) vs GT (1, 1, 2, 2): 4 / 9 px at both t.
        assert ev.accumulate(m, [[1, 1, 2, 2]]).tolist() == [4 / 9] * 2
        assert calls == [(1, 6, 6)]
        ev = BoxEvaluator(
            cam_curve_interval=0.5, num_workers=1, backend="reference"
        )
        assert ev.accumulate(m, [[1, 1, 2, 2]]).tolist() == [4 / 9] * 2
        assert calls == [(1, 6, 6)]  # the reference did not call C


def test_realistic_224_maps():
    rng = np.random.default_rng(0)
    maps = _realistic(rng, 4)
    boxes = [_boxes(rng, 224, 224) for _ in maps]
    _check(maps, boxes, 0.01, num_workers=2, chunk_size=1)


def test_fuzz_structures_interval_001_and_0001():
    rng = np.random.default_rng(1)
    maps, boxes = [], []
    for size in (24, 31):
        maps += [
            _nested_rings(size),
            _holes_and_diagonals(rng, size),
            _norm(rng.random((size, size))),  # noise
            _norm((rng.random((size, size)) < 0.3) * rng.random((size, size))),
            _realistic(rng, 1, size)[0] * 0.6,  # max(S8) = 153
        ]
    for m in maps:
        h, w = m.shape
        b = _boxes(rng, h, w)
        b[0] = [0, 0, w, h]  # a GT box on (and one past) the border
        boxes.append(b)
    _check(maps, boxes, 0.01, num_workers=2, chunk_size=3)
    _check(maps[:6], boxes[:6], 0.001, num_workers=1)


def test_degenerate_and_tiny_maps():
    rng = np.random.default_rng(2)
    maps = [
        np.zeros((5, 7)),  # no foreground at any threshold: box (0,0,0,0)
        np.full((5, 7), 0.5),  # constant
        np.ones((1, 1)),
        np.zeros((1, 1)),
        rng.random((1, 9)),
        rng.random((9, 1)),
        rng.random((3, 40)),  # non-square
        np.pad(np.ones((3, 3)), 1) * 0.004,  # max(S8) = 1
    ]
    maps[4][0, 4] = 0.0
    boxes = [_boxes(rng, *m.shape) for m in maps]
    best = _check(maps, boxes, 0.01, num_workers=1)
    # Hand checks: the all-zero map has only the box (0, 0, 0, 0) at every
    # threshold, the constant one the whole map (0, 0, min(7, 6), min(5, 4)).
    assert set(best[0]) == {max(_iou1(b, (0, 0, 0, 0)) for b in boxes[0])}
    assert set(best[1]) == {max(_iou1(b, (0, 0, 6, 4)) for b in boxes[1])}
    _check(maps, boxes, 0.001, num_workers=1)


def test_hand_drawn_ring_with_hole_box():
    # Ring 2..7 with hole 4..5: outer box (2, 2, 8, 8), hole box (3, 3, 7, 7).
    m = np.zeros((10, 10))
    m[2:8, 2:8] = 1.0
    m[4:6, 4:6] = 0.0
    ev = BoxEvaluator(cam_curve_interval=0.5, num_workers=1)
    best = ev.accumulate(m, [[3, 3, 7, 7]])
    assert best.tolist() == [1.0, 1.0]  # only the hole contour matches
    best = ev.accumulate(m, [[3, 3, 6, 6]])  # 16 / 25 px inside (3,3,7,7)
    assert best.tolist() == [16 / 25] * 2


def test_matches_reference_backend_on_noise():
    rng = np.random.default_rng(3)
    maps = rng.random((6, 40, 40))
    boxes = [_boxes(rng, 40, 40) for _ in maps]
    ref = ReferenceBoxEvaluator(cam_curve_interval=0.02)
    ref_best = np.stack([ref.accumulate(m, b) for m, b in zip(maps, boxes)])
    kw = dict(cam_curve_interval=0.02, num_workers=2, chunk_size=2)
    c_best = BoxEvaluator(**kw).accumulate_batch(maps, boxes)
    r_best = BoxEvaluator(backend="reference", **kw).accumulate_batch(
        maps, boxes
    )
    assert np.array_equal(c_best, ref_best)
    assert np.array_equal(r_best, ref_best)


def test_kernel_rejects_bad_buffers():
    s8 = np.zeros((1, 4, 4), np.uint8)
    levels = np.zeros((1, 2), np.int64)
    n = np.ones(1, np.int64)
    gt = np.zeros((1, 1, 4), np.int64)
    valid = np.ones((1, 1), bool)
    out = np.zeros((1, 2))
    _fastboxes.best_iou(s8, levels, n, gt, valid, out)
    assert out.tolist() == [[1.0, 0.0]]  # box (0,0,0,0) == GT; slot 1 unset
    with pytest.raises(ValueError, match="s8"):
        _fastboxes.best_iou(s8.astype(np.float32), levels, n, gt, valid, out)
    with pytest.raises(ValueError, match="shapes"):
        _fastboxes.best_iou(s8, levels, n, gt, valid, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="levels"):
        bad = np.array([[300, 0]], np.int64)
        _fastboxes.best_iou(s8, bad, n, gt, valid, out)
    with pytest.raises(ValueError, match="n_levels"):
        _fastboxes.best_iou(s8, levels, n + 5, gt, valid, out)
    with pytest.raises((ValueError, BufferError, TypeError)):
        _fastboxes.best_iou(s8, levels, n, gt, valid, out[:, ::2])


def test_missing_kernel_fails_loudly(monkeypatch):
    monkeypatch.setattr(box_evaluator, "_fastboxes", None)
    with pytest.raises(ImportError, match="build_ext --inplace"):
        BoxEvaluator()
    # V1 and the reference backend do not need the kernel.
    BoxEvaluator(multi_contour_eval=False)
    BoxEvaluator(backend="reference")
    with pytest.raises(ValueError, match="backend"):
        BoxEvaluator(backend="numpy")
