"""The C kernel of the pipeline's resize against TensorFlow's op."""

import numpy as np
import pytest
import tensorflow as tf

from wsol_tf.data import image_ops

_resample = pytest.importorskip("wsol_tf.data._resample")


def _tf_crop(image, size, oy, ox, crop):
    """TensorFlow's antialiased bilinear resize window, as the pipeline
    rounded it before the kernel (clip, round half to even)."""
    out = image_ops._scale_and_translate_crop(
        tf.constant(image), size, tf.constant(oy), tf.constant(ox), crop
    )
    return out.numpy()


def _c_crop(image, size, oy, ox, crop):
    out = np.empty((crop, crop, image.shape[2]), np.uint8)
    _resample.resized_crop(image, out, size, size, oy, ox)
    return out


def test_kernel_computes_tensorflows_values_exactly():
    # Down- and upscaling, odd shapes, windows anywhere in the resize,
    # 1 and 3 channels: the same float arithmetic as the op, in the same
    # order, so the same uint8 values.
    rng = np.random.default_rng(0)
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(9, 640, 2))
        size = int(rng.choice([64, 128, 144, 224, 256, 300]))
        crop = int(rng.integers(1, size + 1))
        oy, ox = (int(v) for v in rng.integers(0, size - crop + 1, 2))
        channels = int(rng.choice([1, 3]))
        image = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
        want = _tf_crop(image, size, oy, ox, crop)
        np.testing.assert_array_equal(
            _c_crop(image, size, oy, ox, crop),
            want,
            err_msg=f"{h}x{w}x{channels} -> {size}, {crop} at {oy},{ox}",
        )


def test_whole_resize_equals_resize_image():
    # Offset 0 and crop = size is tf.image.resize(antialias=True), the
    # serving signature's resize.
    rng = np.random.default_rng(1)
    for h, w, size in [(375, 500, 224), (500, 333, 256), (60, 90, 128)]:
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        want = image_ops.resize_image(tf.constant(image), size).numpy()
        got = image_ops.resized_crop(tf.constant(image), size, 0, 0, size)
        np.testing.assert_array_equal(got.numpy(), want)


def test_constant_image_stays_constant_and_extremes_are_kept():
    # Normalised non-negative weights: a flat image resizes to itself,
    # and 0 / 255 neither under- nor overflow.
    for value in (0, 17, 255):
        image = np.full((123, 77, 3), value, np.uint8)
        np.testing.assert_array_equal(
            _c_crop(image, 64, 3, 5, 50), np.full((50, 50, 3), value)
        )


def test_resized_crop_in_a_dataset_map_has_a_static_shape():
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, (h, 90, 3), np.uint8) for h in (70, 130)]
    ds = tf.data.Dataset.from_generator(
        lambda: iter(images),
        output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
    ).map(
        lambda x: image_ops.resized_crop(x, 64, 4, 2, 56),
        num_parallel_calls=2,
    )
    assert ds.element_spec.shape.as_list() == [56, 56, 3]
    for got, image in zip(ds, images):
        np.testing.assert_array_equal(
            got.numpy(), _tf_crop(image, 64, 4, 2, 56)
        )


def test_kernel_choice_is_checked(monkeypatch):
    image = tf.zeros([10, 10, 3], tf.uint8)
    with pytest.raises(ValueError, match="kernel in"):
        image_ops.resized_crop(image, 8, 0, 0, 8, kernel="cuda")
    monkeypatch.setattr(image_ops, "_resample", None)
    with pytest.raises(ImportError, match="not built"):
        image_ops.resized_crop(image, 8, 0, 0, 8, kernel="c")
    # "auto" falls back to TensorFlow's op.
    out = image_ops.resized_crop(image, 8, 0, 0, 8)
    assert out.shape == (8, 8, 3)


def test_bad_arrays_are_refused_in_one_line():
    out = np.empty((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="C-contiguous uint8"):
        _resample.resized_crop(np.zeros((8, 8, 3), np.float32), out, 8, 8, 0, 0)
    with pytest.raises(ValueError, match="same channels"):
        _resample.resized_crop(np.zeros((8, 8, 1), np.uint8), out, 8, 8, 0, 0)
