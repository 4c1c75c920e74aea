"""normalize_scoremap / resize_cam / scoremaps_from_cams."""

import cv2
import numpy as np
import pytest

from wsol_tf.evaluation.cam_ops import normalize_scoremap
from wsol_tf.evaluation.cam_ops import resize_cam
from wsol_tf.evaluation.cam_ops import scoremaps_from_cams


def test_normalize_hand_values_and_input_untouched():
    cam = np.array([[1.0, 3.0], [2.0, 5.0]])
    out = normalize_scoremap(cam)
    # (cam - 1) / (5 - 1)
    assert out.tolist() == [[0.0, 0.5], [0.25, 1.0]]
    assert cam.tolist() == [[1.0, 3.0], [2.0, 5.0]]
    neg = normalize_scoremap(np.array([[-2.0, 0.0], [2.0, -1.0]]))  # no ReLU
    assert neg.tolist() == [[0.0, 0.5], [1.0, 0.25]]


def test_normalize_nan_and_constant_give_zeros():
    assert normalize_scoremap(np.full((3, 3), 7.0)).tolist() == [[0.0] * 3] * 3
    cam = np.ones((2, 2))
    cam[0, 1] = np.nan
    assert normalize_scoremap(cam).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    with pytest.raises(ValueError, match="2-D"):
        normalize_scoremap(np.zeros(3))


def test_resize_cam_is_cubic_float64_height_width():
    cam = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = resize_cam(cam, (6, 8))
    assert out.shape == (6, 8) and out.dtype == np.float64
    # Independent check: cv2 on the float64 map, size given as (W, H).
    expected = cv2.resize(
        cam.astype(np.float64), (8, 6), interpolation=cv2.INTER_CUBIC
    )
    assert np.array_equal(out, expected)
    const = resize_cam(np.full((7, 7), 3.0), 224)
    assert const.shape == (224, 224) and np.allclose(const, 3.0)
    with pytest.raises(ValueError, match="size"):
        resize_cam(cam, "big")
    with pytest.raises(ValueError, match="2-D"):
        resize_cam(np.zeros((2, 2, 2)), 4)


def test_scoremaps_from_cams():
    cams = np.stack([np.arange(16.0).reshape(4, 4), np.full((4, 4), 2.0)])
    maps = scoremaps_from_cams(cams, (8, 8))
    assert maps.shape == (2, 8, 8)
    assert maps[0].min() == 0.0 and maps[0].max() == 1.0
    assert (maps[1] == 0).all()  # constant CAM -> zeros
    with pytest.raises(ValueError, match=r"\[B, h, w\]"):
        scoremaps_from_cams(np.zeros((4, 4)), 8)
