"""Box convention: rescale (int truncation), pad, crop and flip."""

import numpy as np
import pytest
import tensorflow as tf

from wsol_tf import box_ops


def test_rescale_matches_hand_computed_values():
    # int(10*224/500)=int(4.48)=4, int(20*224/375)=int(11.95)=11,
    # int(499*224/500)=int(223.55)=223, int(374*224/375)=int(223.40)=223.
    out = box_ops.rescale_boxes([[10, 20, 499, 374]], (500, 375), (224, 224))
    np.testing.assert_array_equal(out, [[4, 11, 223, 223]])
    # x and y scale separately: 40x30 -> 20x20.
    out = box_ops.rescale_boxes([[5, 3, 14, 20]], (40, 30), (20, 20))
    np.testing.assert_array_equal(out, [[2, 2, 7, 13]])


def test_rescale_tf_equals_numpy_eagerly_and_in_tf_data():
    rng = np.random.default_rng(0)
    boxes = rng.integers(0, 300, size=(50, 4))
    sizes = rng.integers(301, 700, size=(50, 2))
    expected = [
        [int(b[i] * 224 / s[i % 2]) for i in range(4)]
        for b, s in zip(boxes, sizes)
    ]
    eager = [
        box_ops.rescale_boxes_tf(b[None], s, (224, 224)).numpy()[0]
        for b, s in zip(boxes, sizes)
    ]
    np.testing.assert_array_equal(eager, expected)
    ds = tf.data.Dataset.from_tensor_slices((boxes[:, None], sizes)).map(
        lambda b, s: box_ops.rescale_boxes_tf(b, s, (224, 224))
    )
    np.testing.assert_array_equal(
        [x[0] for x in ds.as_numpy_iterator()], expected
    )
    # Padding rows stay -1.
    padded = box_ops.rescale_boxes_tf([[-1, -1, -1, -1]], (10, 10), (20, 20))
    np.testing.assert_array_equal(padded, [[-1, -1, -1, -1]])


def test_pad_boxes():
    out = box_ops.pad_boxes([[1, 2, 3, 4]], 3)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, [[1, 2, 3, 4], [-1] * 4, [-1] * 4])
    np.testing.assert_array_equal(box_ops.unpad_boxes(out), [[1, 2, 3, 4]])
    with pytest.raises(ValueError, match="Received: max_boxes=1"):
        box_ops.pad_boxes([[0, 0, 1, 1], [0, 0, 2, 2]], 1)


def _pixel_box(mask):
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max(), ys.max()]


def test_flip_matches_the_flipped_pixels():
    image = np.zeros((8, 10), bool)
    image[1:4, 2:6] = True  # columns 2..5, rows 1..3
    box = [[2, 1, 5, 3]]
    # Hand computed, W = 10: x0' = 10-1-5 = 4, x1' = 10-1-2 = 7.
    expected = [[4, 1, 7, 3]]
    np.testing.assert_array_equal(
        box_ops.flip_boxes_left_right(box, 10), expected
    )
    np.testing.assert_array_equal(
        box_ops.flip_boxes_left_right_tf(box, 10), expected
    )
    assert _pixel_box(image[:, ::-1]) == expected[0]
    padded = box_ops.flip_boxes_left_right_tf([[2, 1, 5, 3], [-1] * 4], 10)
    np.testing.assert_array_equal(padded, [[4, 1, 7, 3], [-1] * 4])


def test_crop_shifts_clips_and_drops_boxes():
    boxes = [[10, 10, 30, 20], [0, 0, 3, 3], [-1, -1, -1, -1]]
    out = box_ops.crop_boxes_tf(boxes, 5, 8, 20, 20)
    # (10-5, 10-8, min(30-5, 19), 20-8) = (5, 2, 19, 12); the second box
    # ends at x = 3 < 5, outside the crop -> -1 row; padding stays -1.
    np.testing.assert_array_equal(out, [[5, 2, 19, 12], [-1] * 4, [-1] * 4])
    image = np.zeros((40, 40), bool)
    image[10:21, 10:31] = True
    assert _pixel_box(image[8:28, 5:25]) == [5, 2, 19, 12]
