"""bench/split_noise.py: MaxBoxAccV2 of hit arrays and its bootstrap."""

import numpy as np
import pytest

from bench import split_noise


def test_maxboxaccv2_takes_the_best_threshold_per_iou_then_the_mean():
    hits = np.zeros((3, 4, 2), bool)
    hits[0, :3, 0] = True  # IoU 30: 3 of 4 at threshold 0
    hits[1, :1, 0] = hits[1, :2, 1] = True  # IoU 50: best 2 of 4
    assert split_noise.maxboxaccv2(hits) == pytest.approx(
        100 * (0.75 + 0.5 + 0.0) / 3
    )
    # Image 0 twice and image 3: IoU 30 2/3, IoU 50 2/3 at threshold 1.
    assert split_noise.maxboxaccv2(hits, [0, 0, 3]) == pytest.approx(
        100 * (2 / 3 + 2 / 3) / 3
    )


def test_bootstrap_std_follows_the_binomial_formula():
    # One threshold, one level: MaxBoxAccV2 / 3 is a mean of Bernoullis,
    # whose bootstrap std is sqrt(p (1 - p) / n).
    n, p = 400, 0.3
    hits = np.zeros((3, n, 1), bool)
    hits[0, : int(p * n), 0] = True
    same = hits.copy()
    runs, pairs = split_noise.bootstrap({"a": hits, "b": same}, 3000)
    expected = 100 * np.sqrt(p * (1 - p) / n) / 3
    assert runs["a"] == pytest.approx(expected, rel=0.08)
    assert pairs[("a", "b")] == 0.0  # the same images drawn for both runs
