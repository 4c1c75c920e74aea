"""Export a WSOLModel as a self-contained TensorFlow SavedModel.

The SavedModel needs neither wsol_tf nor Keras to load:

```python
import tensorflow as tf

loaded = tf.saved_model.load("runs/synthetic/saved_model")
out = loaded.serve(images)  # float32 [B, S, S, 3], normalised like training
out["logits"], out["class_ids"], out["scores"], out["cams"], out["boxes"]
out["valid"]  # False (class_ids -1) for an image with NaN / inf values,
              # a class id outside [0, num_classes) or a threshold
              # outside [0, 1]
out = loaded.localize(images, tf.constant(0.3))  # another CAM threshold
out = loaded.localize_class(images, labels, tf.constant(0.3))  # CAMs of the
                                # given int32 classes (the metrics' CAMs)
out = loaded.serve_images(rgb)  # uint8 [B, H, W, 3], any H, W: resized and
                                # normalised in the graph as in evaluation
out = loaded.localize_class_images(rgb, labels, tf.constant(0.3))
```
"""

import os

import cv2
import keras
import numpy as np
import tensorflow as tf

from wsol_tf.data import image_ops
from wsol_tf.evaluation.runner import FALLBACK_CAM_THRESHOLD
from wsol_tf.io_utils import atomic_path


def cubic_resize_matrix(in_size, out_size):
    """[out_size, in_size] matrix equal to cv2.resize INTER_CUBIC in 1-D.

    OpenCV's cubic resize (a = -0.75, half-pixel centres, replicated border)
    is linear and separable, so resizing a map M of h x w to H x W is
    `R_h @ M @ R_w.T` with these matrices. They are computed by resizing an
    identity matrix with OpenCV itself, which makes the in-graph resize match
    the protocol's `cv2.resize(cam, (W, H), interpolation=cv2.INTER_CUBIC)`
    up to float32 rounding (tf.image.resize "bicubic" uses a = -0.5 and would
    give a slightly different map).
    """
    eye = np.eye(in_size, dtype=np.float32)
    # Width stays in_size (identity), height becomes out_size.
    return cv2.resize(
        eye, (in_size, out_size), interpolation=cv2.INTER_CUBIC
    ).astype(np.float32)


def _resize_cams(cams, size):
    """[B, h, w] -> [B, size, size] with OpenCV's cubic kernel, in-graph."""
    h, w = cams.shape[1], cams.shape[2]
    if h is None or w is None:
        resized = tf.image.resize(cams[..., None], (size, size), "bicubic")
        return resized[..., 0]
    rows = tf.constant(cubic_resize_matrix(h, size))
    cols = tf.constant(cubic_resize_matrix(w, size))
    return tf.einsum("yh,bhw,xw->byx", rows, cams, cols)


def normalize_scoremaps(cams):
    """Protocol min-max normalisation per map; NaN or constant maps -> 0."""
    cams = tf.cast(cams, tf.float32)
    lo = tf.reduce_min(cams, axis=[1, 2], keepdims=True)
    shifted = cams - lo
    hi = tf.reduce_max(shifted, axis=[1, 2], keepdims=True)
    has_nan = tf.reduce_any(tf.math.is_nan(cams), axis=[1, 2], keepdims=True)
    bad = tf.logical_or(has_nan, tf.logical_not(hi > 0))
    safe = tf.where(bad, tf.ones_like(hi), hi)
    return tf.where(bad, tf.zeros_like(cams), shifted / safe)


def largest_component_boxes(scoremaps, threshold):
    """Box of the largest 8-connected region of each thresholded map.

    Binarisation is the protocol's: `s8 = uint8(map * 255)` (truncation),
    foreground iff `s8 > int(threshold * max(s8))`. The box follows the
    protocol's `cv2.boundingRect` convention: `(x0, y0, min(x1 + 1, W - 1),
    min(y1 + 1, H - 1))` with x1, y1 the last foreground column / row. An
    empty map gives `(0, 0, 0, 0)`. Regions are ranked by pixel count; the
    protocol's V1 ranks contours by `cv2.contourArea`, which can pick a
    different region only when two regions have nearly the same size.

    Args:
        scoremaps: float32 [B, H, W] in [0, 1].
        threshold: float scalar (Python float or tensor) in [0, 1).

    Returns:
        int32 [B, 4] boxes (x0, y0, x1, y1) in the map's pixel frame.
    """
    shape = tf.shape(scoremaps)
    batch, height, width = shape[0], shape[1], shape[2]
    s8 = tf.floor(tf.clip_by_value(scoremaps, 0.0, 1.0) * 255.0)
    peak = tf.reduce_max(s8, axis=[1, 2], keepdims=True)
    cut = tf.floor(tf.cast(threshold, tf.float64) * tf.cast(peak, tf.float64))
    fg = tf.cast(s8, tf.float64) > cut
    fg_f = tf.cast(fg, tf.float32)
    area = height * width
    ids = tf.reshape(tf.range(1, area + 1, dtype=tf.float32), [height, width])
    labels = ids[None] * fg_f

    def body(current, _):
        pooled = tf.nn.max_pool2d(current[..., None], 3, 1, "SAME")[..., 0]
        pooled = pooled * fg_f
        return pooled, tf.reduce_any(tf.not_equal(pooled, current))

    labels, _ = tf.while_loop(
        lambda current, changed: changed,
        body,
        (labels, tf.constant(True)),
        maximum_iterations=area,
    )
    labels = tf.cast(labels, tf.int32)
    offsets = tf.range(batch)[:, None, None] * (area + 1)
    counts = tf.math.unsorted_segment_sum(
        tf.ones_like(labels), labels + offsets, batch * (area + 1)
    )
    counts = tf.reshape(counts, [batch, area + 1])
    counts = tf.concat([tf.zeros_like(counts[:, :1]), counts[:, 1:]], axis=1)
    best = tf.argmax(counts, axis=1, output_type=tf.int32)
    mask = tf.logical_and(tf.equal(labels, best[:, None, None]), fg)
    rows = tf.reduce_any(mask, axis=2)
    cols = tf.reduce_any(mask, axis=1)

    def first_last(flags, size):
        first = tf.argmax(
            tf.cast(flags, tf.int32), axis=1, output_type=tf.int32
        )
        rev = tf.reverse(tf.cast(flags, tf.int32), axis=[1])
        last = size - 1 - tf.argmax(rev, axis=1, output_type=tf.int32)
        return first, tf.minimum(last + 1, size - 1)

    y0, y1 = first_last(rows, height)
    x0, x1 = first_last(cols, width)
    boxes = tf.stack([x0, y0, x1, y1], axis=1)
    empty = tf.logical_not(tf.reduce_any(fg, axis=[1, 2]))
    return tf.where(empty[:, None], tf.zeros_like(boxes), boxes)


def _checked_class_ids(images, class_ids):
    """`class_ids` as int32 [B], failing by name on a length mismatch.

    The check runs before any use of the ids, so the caller reads both
    lengths instead of an anonymous shape error from the CAM selection.
    """
    class_ids = tf.cast(tf.convert_to_tensor(class_ids), tf.int32)
    given, batch = tf.size(class_ids), tf.shape(images)[0]
    check = tf.debugging.Assert(
        tf.logical_and(tf.rank(class_ids) == 1, tf.equal(given, batch)),
        [
            "localize_class: class_ids must hold one id per image; got",
            given,
            "class ids for",
            batch,
            "images",
        ],
    )
    with tf.control_dependencies([check]):
        return tf.reshape(tf.identity(class_ids), [-1])


def localize(model, images, threshold, image_size, cam_class_ids=None):
    """Serving outputs for a batch: logits, top-1, its CAM and box.

    With `cam_class_ids` (int32 [B]) the CAM and box are those of the given
    classes (e.g. the ground truth, as MaxBoxAccV2 / PxAP use); "class_ids"
    and "scores" stay the top-1 prediction. A length other than the
    batch's fails with an error naming both lengths.

    Returns:
        dict with "logits" float32 [B, C], "class_ids" int32 [B] (top-1),
        "scores" float32 [B] (softmax probability of the top-1 class),
        "cams" float32 [B, S, S] (top-1 CAM resized with OpenCV's cubic
        kernel and min-max normalised, as the protocol), "boxes" int32
        [B, 4] (see `largest_component_boxes`) and "valid" bool [B]: False
        when the request cannot be answered for that image (the image or
        its logits hold a NaN or inf, its given class id is outside
        `[0, C)`, or the threshold is outside `[0, 1]`); the outputs are
        then meaningless and say so: class id -1, score 0, a zero CAM and
        box. The other images of the batch are unaffected.
    """
    images = tf.convert_to_tensor(images)
    threshold = tf.cast(threshold, tf.float32)
    valid_request = tf.logical_and(threshold >= 0.0, threshold <= 1.0)
    valid_request = tf.fill(tf.shape(images)[:1], valid_request)
    if cam_class_ids is not None:
        cam_class_ids = _checked_class_ids(images, cam_class_ids)
        known = tf.logical_and(
            cam_class_ids >= 0, cam_class_ids < model.num_classes
        )
        valid_request = tf.logical_and(valid_request, known)
        # Class 0 stands in for an unknown id; that row's outputs are masked.
        cam_class_ids = tf.where(known, cam_class_ids, 0)
    logits, cams = model.compute_cams(images, cam_class_ids)
    logits = tf.cast(logits, tf.float32)
    valid = tf.logical_and(
        valid_request,
        tf.logical_and(
            tf.reduce_all(tf.math.is_finite(images), axis=[1, 2, 3]),
            tf.reduce_all(tf.math.is_finite(logits), axis=-1),
        ),
    )
    class_ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
    class_ids = tf.where(valid, class_ids, -tf.ones_like(class_ids))
    scores = tf.reduce_max(tf.nn.softmax(logits, axis=-1), axis=-1)
    scores = tf.where(valid, scores, tf.zeros_like(scores))
    scoremaps = normalize_scoremaps(
        _resize_cams(tf.cast(cams, tf.float32), image_size)
    )
    scoremaps = tf.where(
        valid[:, None, None], scoremaps, tf.zeros_like(scoremaps)
    )
    boxes = largest_component_boxes(scoremaps, threshold)
    return {
        "logits": logits,
        "class_ids": class_ids,
        "scores": scores,
        "cams": scoremaps,
        "boxes": tf.where(valid[:, None], boxes, tf.zeros_like(boxes)),
        "valid": valid,
    }


def preprocess_images(images, image_size, normalization):
    """uint8 RGB [B, H, W, 3] -> the evaluation pipeline's network input.

    The eval path of `wsol_tf.data.build_dataset`: squash-resize to
    `image_size` (`image_ops.resize_image`: bilinear, antialiased, rounded
    to uint8), then `image_ops.normalize_images(normalization)`.
    """
    resized = image_ops.resize_image(images, image_size)
    return image_ops.normalize_images(resized, normalization)


def export_saved_model(
    model,
    path,
    image_size,
    threshold=FALLBACK_CAM_THRESHOLD,
    normalization=None,
):
    """Writes `model` as a SavedModel with float32 serving signatures.

    Endpoints (the first is also `serving_default`):
    - `serve(images)`: `localize` at the fixed `threshold`;
    - `localize(images, threshold)`: the same with a float32 scalar
      threshold;
    - `localize_class(images, class_ids, threshold)`: the CAMs and boxes
      of the given int32 [B] classes (the ground truth for the protocol's
      metrics: the CAMs `evaluate_model` scores);
    - with `normalization`: `serve_images(images)`, uint8 RGB
      [None, None, None, 3] images of any size (one size per call), resized
      and normalised in the graph exactly as the evaluation pipeline
      (`preprocess_images`), then `serve`; and
      `localize_class_images(images, class_ids, threshold)`, the same
      images with `localize_class`: the metrics' CAMs from image files.
    `images` of `serve` / `localize` is float32 [None, image_size,
    image_size, 3], normalised as in training. The signature is float32
    under every dtype policy (the model casts internally under mixed
    precision). The directory is written to a
    temporary sibling and renamed into place (an existing export at `path`
    is replaced only once the new one is complete).

    Args:
        model: a built `WSOLModel` (anything with `compute_cams` and
            `num_classes`).
        path: output directory.
        image_size: int, input side S.
        threshold: CAM threshold in [0, 1) of the `serve` endpoint's box.
        normalization: the resolved `DataConfig.normalization` the model
            was trained with ("imagenet", "caffe", "tf" or "none"); None
            leaves out `serve_images`.

    Returns:
        `path`.
    """
    image_size = int(image_size)
    if image_size <= 0:
        raise ValueError(
            f"image_size must be a positive int. Received: "
            f"image_size={image_size}"
        )
    if not 0.0 <= float(threshold) < 1.0:
        raise ValueError(
            f"threshold must be in [0, 1). Received: threshold={threshold}"
        )
    threshold = float(threshold)
    if normalization is not None:
        # Fails here, not in the graph, on an unknown mode.
        image_ops.normalize_images(tf.zeros([1, 1, 1, 3]), normalization)
    spec = tf.TensorSpec([None, image_size, image_size, 3], tf.float32)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve",
        lambda images: localize(model, images, threshold, image_size),
        input_signature=[spec],
    )
    archive.add_endpoint(
        "localize",
        lambda images, t: localize(model, images, t, image_size),
        input_signature=[spec, tf.TensorSpec([], tf.float32)],
    )
    archive.add_endpoint(
        "localize_class",
        lambda images, class_ids, t: localize(
            model, images, t, image_size, cam_class_ids=class_ids
        ),
        input_signature=[
            spec,
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([], tf.float32),
        ],
    )
    if normalization is not None:
        archive.add_endpoint(
            "localize_class_images",
            lambda images, class_ids, t: localize(
                model,
                preprocess_images(images, image_size, normalization),
                t,
                image_size,
                cam_class_ids=class_ids,
            ),
            input_signature=[
                tf.TensorSpec([None, None, None, 3], tf.uint8),
                tf.TensorSpec([None], tf.int32),
                tf.TensorSpec([], tf.float32),
            ],
        )
        archive.add_endpoint(
            "serve_images",
            lambda images: localize(
                model,
                preprocess_images(images, image_size, normalization),
                threshold,
                image_size,
            ),
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)],
        )
    with atomic_path(path) as tmp:
        archive.write_out(tmp, verbose=False)
    return os.path.abspath(path)
