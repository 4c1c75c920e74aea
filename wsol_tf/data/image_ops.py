"""Image, normalisation and mask ops for the tf.data pipelines.

Everything here is usable eagerly and inside `Dataset.map`. All but
`resized_crop` are plain TensorFlow (so `resize_image` also serves inside
an exported SavedModel); `resized_crop` runs the package's C kernel of the
same resize where it is built (`wsol_tf/data/_resample.c`), which computes
TensorFlow's values several times faster.
"""

import functools

import numpy as np
import tensorflow as tf

try:  # built by setup.py with the package
    from wsol_tf.data import _resample
except ImportError:  # pragma: no cover - TensorFlow's op, the same pixels
    _resample = None

# torchvision / wsolevaluation ImageNet statistics (RGB, [0, 1] scale).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# keras.applications.{vgg16,resnet50}.preprocess_input ("caffe"): BGR order.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IGNORE_LABEL = 255

_MAGIC_2 = (b"\xff\xd8", b"BM", b"\xff\x0a")  # JPEG, BMP, JPEG XL
_MAGIC_4 = (b"\x89PNG", b"GIF8", b"RIFF", b"\x00\x00\x00\x0c")


def _check_magic(contents, path):
    """Asserts that `contents` start like an image; names `path` if not."""
    head2 = tf.strings.substr(contents, 0, 2)
    head4 = tf.strings.substr(contents, 0, 4)
    ok = tf.reduce_any(tf.equal(head2, _MAGIC_2)) | tf.reduce_any(
        tf.equal(head4, _MAGIC_4)
    )
    return tf.debugging.Assert(
        ok,
        [
            "Not a JPEG / PNG / GIF / BMP / WebP image file (empty or "
            "corrupt?); run tools/check_dataset.py to list every bad file:",
            path,
        ],
    )


def decode_image(contents, channels):
    """Decodes encoded image bytes to uint8 `[H, W, channels]`.

    JPEGs go through libjpeg's accurate integer IDCT
    (`dct_method="INTEGER_ACCURATE"`, libjpeg's default "islow"), the one
    PIL uses, so the pixels equal PIL's (`Image.open(...).convert("RGB")`,
    wsolevaluation's loader); TF's default fast IDCT differs by up to a few
    levels. Other formats use `tf.io.decode_image`.
    """
    image = tf.cond(
        tf.io.is_jpeg(contents),
        lambda: tf.io.decode_jpeg(
            contents, channels=channels, dct_method="INTEGER_ACCURATE"
        ),
        lambda: tf.io.decode_image(
            contents, channels=channels, expand_animations=False
        ),
    )
    image.set_shape([None, None, channels])
    return image


def read_image(path):
    """Reads and decodes an RGB image file: uint8 `[H, W, 3]`.

    Decoded by `decode_image` (JPEGs as PIL decodes them). A file that is
    not an image fails with an error naming `path`; a file whose image data
    is damaged fails inside the decoder (`validate_dataset` reports such
    files with their path).
    """
    contents = tf.io.read_file(path)
    with tf.control_dependencies([_check_magic(contents, path)]):
        return decode_image(contents, channels=3)


def resize_image(image, size):
    """Squash-resizes to `size x size` like torchvision `Resize((s, s))`.

    Bilinear with antialiasing (as PIL's bilinear filter when shrinking),
    rounded back to uint8 as PIL does. Returns uint8 `[size, size, 3]`.
    """
    resized = tf.image.resize(
        image, [size, size], method="bilinear", antialias=True
    )
    return _round_to_uint8(resized)


def _round_to_uint8(resized):
    """A float resize back to uint8 as PIL rounds it: clip, round half to
    even."""
    return tf.cast(tf.round(tf.clip_by_value(resized, 0.0, 255.0)), tf.uint8)


def _scale_and_translate_crop(image, size, offset_y, offset_x, crop):
    """`resized_crop` with TensorFlow's op (the reference of the C kernel)."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    offset = tf.cast(tf.stack([offset_y, offset_x]), tf.float32)
    resized = tf.raw_ops.ScaleAndTranslate(
        images=image[None],  # uint8: the kernel converts as it reads
        size=[crop, crop],
        scale=float(size) / shape,
        translation=-offset,
        kernel_type="triangle",
        antialias=True,
    )[0]
    return _round_to_uint8(resized)


def _c_crop(image, offset_y, offset_x, size, crop):
    out = np.empty((crop, crop, image.shape[-1]), np.uint8)
    _resample.resized_crop(
        np.ascontiguousarray(image),
        out,
        size,
        size,
        int(offset_y),
        int(offset_x),
    )
    return out


def resized_crop(image, size, offset_y, offset_x, crop, kernel="auto"):
    """`resize_image(image, size)[oy : oy + crop, ox : ox + crop]` at a
    fraction of the cost.

    The antialiased bilinear resample computes only the window's output
    pixels, from the decoded uint8 image, each sampling where the full
    resize's pixel does: the same values as the full resize's window up to
    float rounding (at most 1 level in a few pixels per million).
    `offset 0, crop = size` is the whole resize.

    Args:
        image: uint8 `[H, W, 3]`.
        size: side of the squashed resize (e.g. 256).
        offset_y, offset_x: int32 scalars, the window's corner in the resize.
        crop: side of the window (e.g. 224).
        kernel: "auto" (the C kernel where built, else TensorFlow's op),
            "c" or "tf".

    Returns:
        uint8 `[crop, crop, 3]`.
    """
    if kernel not in ("auto", "c", "tf"):
        raise ValueError(
            f"Expected kernel in ('auto', 'c', 'tf'). Received: {kernel!r}"
        )
    if kernel == "c" and _resample is None:
        raise ImportError(
            "The C kernel wsol_tf.data._resample is not built: run `pip "
            "install -e .` in the wsol_tf checkout (needs a C compiler)."
        )
    if kernel == "tf" or _resample is None:
        out = _scale_and_translate_crop(image, size, offset_y, offset_x, crop)
    else:
        out = tf.numpy_function(
            functools.partial(_c_crop, size=int(size), crop=int(crop)),
            [image, offset_y, offset_x],
            tf.uint8,
            stateful=False,
        )
    return tf.ensure_shape(out, [crop, crop, 3])


def read_resized_crop(path, size, offset_y, offset_x, crop):
    """`resized_crop(read_image(path), size, offset_y, offset_x, crop)`:
    the protocol's training crop (resize the whole image to `size x size`,
    then crop) from an image file."""
    return resized_crop(read_image(path), size, offset_y, offset_x, crop)


def _channelwise(x, fn):
    """`fn(rows, c)` on `x [..., W, 3]` seen as rows of `W * 3` values, `c`
    tiling a per-channel triple along a row.

    The same float operations as broadcasting the triple against the last
    axis, so the same values, several times faster: the CPU vectorises a
    broadcast along a long row, not along an axis of 3.
    """
    if x.shape.rank is None or x.shape.rank < 2:
        return fn(x, lambda v: tf.constant(v, tf.float32))
    shape = tf.shape(x)
    rows = tf.reshape(x, [-1, shape[-2] * 3])
    out = fn(rows, lambda v: tf.tile(tf.constant(v, tf.float32), shape[-2:-1]))
    return tf.reshape(out, shape)


def normalize_images(images, mode="imagenet"):
    """Maps uint8-range RGB images `[..., 3]` to float32 network input.

    Args:
        images: RGB images with values in [0, 255] (any int / float dtype).
        mode: "imagenet": `(x / 255 - mean) / std` with the torchvision
            statistics (the protocol default); "caffe": RGB -> BGR minus
            the ImageNet mean pixel, as `keras.applications.vgg16 /
            resnet50.preprocess_input`; "tf": `x / 127.5 - 1`; "none":
            `x / 255`.

    Returns:
        float32 tensor of the same shape.
    """
    if mode == "imagenet":
        return _channelwise(
            tf.cast(images, tf.float32),
            lambda x, c: (x / 255.0 - c(IMAGENET_MEAN)) / c(IMAGENET_STD),
        )
    if mode == "caffe":
        # tf.reverse, not x[..., ::-1]: a negative-stride slice costs ~20x.
        return _channelwise(
            tf.cast(tf.reverse(images, [-1]), tf.float32),
            lambda x, c: x - c(CAFFE_MEAN_BGR),
        )
    x = tf.cast(images, tf.float32)
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "none":
        return x / 255.0
    raise ValueError(
        f"Expected normalization in ('imagenet', 'caffe', 'tf', 'none'). "
        f"Received: mode={mode!r}"
    )


def denormalize_images(images, mode="imagenet"):
    """Inverse of `normalize_images` (float32 RGB in [0, 255]), e.g. for
    visualising a batch."""
    x = tf.cast(images, tf.float32)
    if mode == "imagenet":
        return (x * IMAGENET_STD + IMAGENET_MEAN) * 255.0
    if mode == "caffe":
        return (x + CAFFE_MEAN_BGR)[..., ::-1]
    if mode == "tf":
        return (x + 1.0) * 127.5
    return x * 255.0


def _nearest_indices(src, dst):
    """Source index of each output pixel under cv2 INTER_NEAREST.

    OpenCV computes `min(floor(x * (1 / (dst / src))), src - 1)` in double
    precision; the same float64 operations give the same indices.
    """
    scale = tf.cast(dst, tf.float64) / tf.cast(src, tf.float64)
    idx = tf.floor(tf.range(dst, dtype=tf.float64) * (1.0 / scale))
    return tf.minimum(tf.cast(idx, tf.int32), tf.cast(src, tf.int32) - 1)


def resize_nearest_cv2(mask, size):
    """`cv2.resize(mask, (size, size), interpolation=INTER_NEAREST)` for a
    2-D tensor, in TensorFlow."""
    shape = tf.shape(mask)
    rows = _nearest_indices(shape[0], size)
    cols = _nearest_indices(shape[1], size)
    return tf.gather(tf.gather(mask, rows, axis=0), cols, axis=1)


def _read_binary_mask(path, size):
    contents = tf.io.read_file(path)
    with tf.control_dependencies([_check_magic(contents, path)]):
        mask = decode_image(contents, channels=1)
    return resize_nearest_cv2(mask[..., 0], size) > 0


def read_mask_label_map(mask_paths, ignore_path, size):
    """Ground-truth label map of one image for PxAP (wsolevaluation GT).

    Each instance mask is read as grayscale, resized to `size x size` with
    nearest neighbour (cv2 semantics) and thresholded `> 0`; instances are
    OR-ed. The ignore mask (path "" = none) is resized the same way and
    `ignore = ignore & ~foreground`.

    Args:
        mask_paths: string `[M]` instance mask paths (M may be 0).
        ignore_path: string scalar, "" when the image has no ignore mask.
        size: output side E.

    Returns:
        uint8 `[E, E]`: 1 foreground, 255 ignore, 0 background.
    """
    empty = tf.zeros([size, size], tf.bool)
    instances = tf.map_fn(
        lambda p: _read_binary_mask(p, size),
        mask_paths,
        fn_output_signature=tf.TensorSpec([size, size], tf.bool),
    )
    foreground = tf.reduce_any(
        tf.concat([instances, empty[None]], axis=0), axis=0
    )
    ignore = tf.cond(
        tf.strings.length(ignore_path) > 0,
        lambda: _read_binary_mask(ignore_path, size),
        lambda: empty,
    )
    ignore = ignore & ~foreground
    label = tf.where(
        foreground,
        tf.constant(1, tf.uint8),
        tf.where(
            ignore,
            tf.constant(IGNORE_LABEL, tf.uint8),
            tf.constant(0, tf.uint8),
        ),
    )
    return tf.ensure_shape(label, [size, size])
