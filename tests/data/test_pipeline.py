"""tf.data pipelines: shapes, dtypes, normalisation, boxes, masks, errors."""

import os

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from wsol_tf.config import DataConfig
from wsol_tf.data import build_dataset
from wsol_tf.data import denormalize_images
from wsol_tf.data import image_ops
from wsol_tf.data import resolve_dataset


def _tiny_config(tiny_root, **kwargs):
    kwargs.setdefault("metadata_root", os.path.join(tiny_root, "metadata/TINY"))
    kwargs.setdefault("data_root", tiny_root)
    return DataConfig(dataset_name="tiny", **kwargs)


def test_eval_outputs_and_box_rescaling(tiny_root):
    cfg = _tiny_config(tiny_root, eval_image_size=20, eval_batch_size=2)
    batches = list(build_dataset(cfg, "test", training=False))
    assert [b["images"].shape[0] for b in batches] == [2, 1]  # no drop
    first = batches[0]
    assert set(first) == {"images", "labels", "boxes", "image_ids"}
    assert first["images"].shape == (2, 20, 20, 3)
    assert first["images"].dtype == tf.float32
    assert first["labels"].dtype == tf.int32
    assert first["boxes"].dtype == tf.int32
    boxes = np.concatenate([b["boxes"].numpy() for b in batches])
    labels = np.concatenate([b["labels"].numpy() for b in batches])
    ids = np.concatenate([b["image_ids"].numpy() for b in batches])
    assert ids.tolist() == [b"images/a.png", b"images/b.png", b"images/c.jpg"]
    np.testing.assert_array_equal(labels, [0, 1, 2])
    # Hand computed int(v * 20 / W), int(v * 20 / H):
    # a 40x30 (5,3,14,20) -> (2,2,7,13); b 24x24 (2,2,7,9) -> (1,1,5,7),
    # (15,10,21,20) -> (12,8,17,16); c 32x16 (0,0,31,15) -> (0,0,19,18).
    expected = [
        [[2, 2, 7, 13], [-1, -1, -1, -1]],
        [[1, 1, 5, 7], [12, 8, 17, 16]],
        [[0, 0, 19, 18], [-1, -1, -1, -1]],
    ]
    np.testing.assert_array_equal(boxes, expected)


@pytest.mark.parametrize("mode", ["imagenet", "caffe", "tf", "none"])
def test_normalization_against_keras_preprocess_input(write_dataset, mode):
    pixels = np.random.default_rng(1).integers(0, 256, (8, 8, 3), np.uint8)
    data_root, metadata_root = write_dataset({"i.png": (pixels, 0, [])})
    cfg = DataConfig(
        dataset_name="t",
        data_root=data_root,
        metadata_root=metadata_root,
        eval_image_size=8,  # same size: the resize is the identity
        normalization=mode,
    )
    images = next(iter(build_dataset(cfg, "s", False)))["images"].numpy()[0]
    x = pixels.astype(np.float32)
    keras_mode = {"imagenet": "torch", "caffe": "caffe", "tf": "tf"}
    if mode == "none":
        expected = x / 255.0
    else:
        expected = keras.applications.imagenet_utils.preprocess_input(
            x.copy(), mode=keras_mode[mode]
        )
    np.testing.assert_allclose(images, expected, atol=1e-4)
    back = denormalize_images(images, mode).numpy()
    np.testing.assert_allclose(back, x, atol=1e-3)


@pytest.mark.parametrize("shape", [(2, 5, 7, 3), (9, 4, 3), (3,)])
def test_normalization_equals_numpy_float32(shape):
    # Per-channel constants tiled along image rows: the same float32
    # operations as numpy's broadcast, so the same values, bit for bit.
    pixels = np.random.default_rng(2).integers(0, 256, shape, np.uint8)
    x = pixels.astype(np.float32)
    mean = np.float32(image_ops.IMAGENET_MEAN)
    std = np.float32(image_ops.IMAGENET_STD)
    expected = {
        "imagenet": (x / np.float32(255) - mean) / std,
        "caffe": x[..., ::-1] - np.float32(image_ops.CAFFE_MEAN_BGR),
    }
    for mode, want in expected.items():
        got = image_ops.normalize_images(pixels, mode).numpy()
        np.testing.assert_array_equal(got, want)


def _cv2_label_map(root, masks, ignore, size):
    """wsolevaluation MaskEvaluator GT, re-derived with OpenCV."""
    fg = np.zeros((size, size), bool)
    for m in masks:
        m = cv2.imread(os.path.join(root, m), cv2.IMREAD_GRAYSCALE)
        fg |= cv2.resize(m, (size, size), interpolation=cv2.INTER_NEAREST) > 0
    out = fg.astype(np.uint8)
    if ignore:
        i = cv2.imread(os.path.join(root, ignore), cv2.IMREAD_GRAYSCALE)
        i = cv2.resize(i, (size, size), interpolation=cv2.INTER_NEAREST) > 0
        out[i & ~fg] = 255
    return out


@pytest.mark.parametrize("size", [12, 24])
def test_mask_label_maps(tiny_root, size):
    cfg = _tiny_config(
        tiny_root,
        mask_metadata_root=os.path.join(tiny_root, "metadata/TINY_MASKS"),
        eval_image_size=size,
        eval_batch_size=3,
    )
    batch = next(iter(build_dataset(cfg, "test", False)))
    masks = batch["masks"].numpy()
    assert masks.dtype == np.uint8 and masks.shape == (3, size, size)
    expected = [
        _cv2_label_map(tiny_root, ["masks/a_m0.png"], None, size),
        _cv2_label_map(
            tiny_root,
            ["masks/b_m0.png", "masks/b_m1.png"],
            "masks/b_ignore.png",
            size,
        ),
        _cv2_label_map(tiny_root, ["masks/c_m0.png"], None, size),
    ]
    np.testing.assert_array_equal(masks, expected)
    if size == 24:  # b is 24x24: its label map is the hand-drawn picture
        hand = np.zeros((24, 24), np.uint8)
        hand[1:11, 1:9] = 255  # 1-pixel band around (2,2,7,9) ...
        hand[9:22, 14:23] = 255  # ... and around (15,10,21,20)
        hand[2:10, 2:8] = 1
        hand[10:21, 15:22] = 1
        np.testing.assert_array_equal(masks[1], hand)


def test_mask_dataset_as_metadata_root(tiny_root):
    # OpenImages style: localization.txt holds masks, no boxes, no sizes.
    cfg = _tiny_config(
        tiny_root,
        metadata_root=os.path.join(tiny_root, "metadata/TINY_MASKS"),
        eval_image_size=12,
        eval_batch_size=3,
    )
    batch = next(iter(build_dataset(cfg, "test", False)))
    assert batch["masks"].shape == (3, 12, 12)
    np.testing.assert_array_equal(batch["boxes"], -np.ones((3, 1, 4)))


def test_train_outputs_shapes_and_seeded_shuffle(tiny_root):
    cfg = _tiny_config(tiny_root, resize_size=24, image_size=16, batch_size=2)
    ds = build_dataset(cfg, "train", training=True)
    # Static sides: InceptionV3 and the attention blocks need them; the
    # batch is dynamic (the last one is smaller).
    assert tuple(ds.element_spec[0].shape) == (None, 16, 16, 3)
    epochs = [list(ds) for _ in range(6)]
    # 3 images, batches of 2: the partial batch is kept (PyTorch's loader).
    assert all([len(b[1]) for b in e] == [2, 1] for e in epochs)
    listed = os.path.join(cfg.metadata_root, "train", "class_labels.txt")
    with open(listed) as f:
        want = sorted(int(line.split(",")[1]) for line in f if line.strip())
    for epoch in epochs:  # every image once per epoch
        labels = np.concatenate([b[1].numpy() for b in epoch])
        assert sorted(labels.tolist()) == want
    dropped = build_dataset(cfg, "train", training=True, drop_remainder=True)
    assert tuple(dropped.element_spec[0].shape) == (2, 16, 16, 3)
    assert len(list(dropped)) == 1
    images, labels = epochs[0][0]
    assert images.shape == (2, 16, 16, 3) and images.dtype == tf.float32
    assert labels.shape == (2,) and labels.dtype == tf.int32
    orders = [tuple(e[0][1].numpy()) for e in epochs]
    assert len(set(orders)) > 1  # reshuffled every iteration
    again = build_dataset(cfg, "train", training=True)
    for epoch, other in zip(epochs[:3], [list(again) for _ in range(3)]):
        np.testing.assert_array_equal(epoch[0][1], other[0][1])
        np.testing.assert_array_equal(epoch[0][0], other[0][0])


def _bright_box(image):
    ys, xs = np.nonzero(image.max(axis=-1) > 128)
    if len(xs) == 0:
        return [-1, -1, -1, -1]
    return [xs.min(), ys.min(), xs.max(), ys.max()]


def test_train_flip_moves_boxes_with_pixels(write_dataset):
    pixels = np.zeros((24, 24, 3), np.uint8)
    pixels[5:13, 3:11] = 255  # columns 3..10, rows 5..12
    data_root, metadata_root = write_dataset(
        {"r.png": (pixels, 0, [(3, 5, 10, 12)])}
    )
    cfg = DataConfig(
        dataset_name="t",
        data_root=data_root,
        metadata_root=metadata_root,
        resize_size=24,  # identity resize and no crop: only the flip acts
        image_size=24,
        batch_size=1,
    )
    ds = build_dataset(cfg, "s", training=True, with_boxes=True)
    # Hand computed flip in W = 24: (24-1-10, 5, 24-1-3, 12) = (13,5,20,12).
    seen = set()
    for _ in range(12):
        batch = next(iter(ds))
        box = batch["boxes"].numpy()[0, 0].tolist()
        assert box in ([3, 5, 10, 12], [13, 5, 20, 12])
        image = denormalize_images(batch["images"][0]).numpy()
        assert _bright_box(image) == box
        seen.add(tuple(box))
    assert len(seen) == 2  # both flipped and unflipped crops occurred


def test_train_crop_moves_boxes_with_pixels(write_dataset):
    pixels = np.zeros((24, 24, 3), np.uint8)
    pixels[2:9, 4:20] = 255
    data_root, metadata_root = write_dataset(
        {"r.png": (pixels, 0, [(4, 2, 19, 8)])}
    )
    cfg = DataConfig(
        dataset_name="t",
        data_root=data_root,
        metadata_root=metadata_root,
        resize_size=24,
        image_size=12,
        batch_size=1,
    )
    ds = build_dataset(cfg, "s", training=True, with_boxes=True)
    boxes = set()
    for _ in range(15):
        batch = next(iter(ds))
        box = batch["boxes"].numpy()[0, 0].tolist()
        image = denormalize_images(batch["images"][0]).numpy()
        assert _bright_box(image) == box
        boxes.add(tuple(box))
    assert len(boxes) > 3


def test_missing_image_is_reported_with_file_and_line(tiny_root, tmp_path):
    cfg = _tiny_config(tiny_root, data_root=str(tmp_path))
    meta = os.path.join(tiny_root, "metadata/TINY/test/image_ids.txt")
    with pytest.raises(ValueError, match="3 file.s. listed") as info:
        build_dataset(cfg, "test", False)
    assert f"{meta}:2: image file not found: {tmp_path}/images/b.png" in str(
        info.value
    )


def test_non_image_file_error_names_the_path(write_dataset):
    pixels = np.zeros((4, 4, 3), np.uint8)
    data_root, metadata_root = write_dataset({"x.png": (pixels, 0, [])})
    path = os.path.join(data_root, "x.png")
    with open(path, "wb") as f:
        f.write(b"<html>not an image</html>")
    cfg = DataConfig(
        dataset_name="t",
        data_root=data_root,
        metadata_root=metadata_root,
        eval_image_size=4,
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match=path):
        next(iter(build_dataset(cfg, "s", False)))


def test_training_split_smaller_than_a_batch(tiny_root):
    cfg = _tiny_config(tiny_root, batch_size=4)
    batches = list(build_dataset(cfg, "train", True))
    assert [len(labels) for _, labels in batches] == [3]
    with pytest.raises(ValueError, match="Received: batch_size=4"):
        build_dataset(cfg, "train", True, drop_remainder=True)


@pytest.mark.parametrize("n, batch", [(7, 3), (6, 3), (5, 8)])
def test_training_keeps_the_partial_batch(write_dataset, n, batch):
    rng = np.random.default_rng(n)
    images = {
        f"i{k}.png": (rng.integers(0, 256, (10, 12, 3), np.uint8), k % 2, [])
        for k in range(n)
    }
    data_root, metadata_root = write_dataset(images)
    sides = dict(resize_size=10, image_size=8, batch_size=batch)
    cfg = _tiny_config(data_root, metadata_root=metadata_root, **sides)
    ds = build_dataset(cfg, "s", training=True, with_boxes=True)
    for _ in range(2):
        sizes, ids = [], []
        for element in ds:
            sizes.append(int(element["images"].shape[0]))
            ids += [i.decode() for i in element["image_ids"].numpy()]
        # ceil(n / batch) batches, the last of n mod batch (PyTorch's
        # DataLoader, drop_last=False), each image once.
        want = [batch] * (n // batch) + ([n % batch] if n % batch else [])
        assert sizes == want
        assert sorted(ids) == sorted(images)


def test_resolve_dataset(tmp_path):
    cfg = DataConfig(
        cache_dir=str(tmp_path),
        synthetic_num_classes=2,
        synthetic_train_per_class=2,
        synthetic_val_per_class=1,
        synthetic_test_per_class=1,
        synthetic_image_size=48,
        eval_image_size=16,
    )
    resolved = resolve_dataset(cfg)
    assert os.path.dirname(resolved.data_root) == str(tmp_path)
    assert resolved.metadata_root == os.path.join(
        resolved.data_root, "metadata", "SYNTHETIC"
    )
    assert resolved.mask_metadata_root.endswith("SYNTHETIC_PXAP")
    assert resolved.num_classes == 2
    stamp = os.path.join(resolved.data_root, "synthetic.json")
    mtime = os.stat(stamp).st_mtime_ns
    assert resolve_dataset(cfg) == resolved  # reused, not regenerated
    assert os.stat(stamp).st_mtime_ns == mtime
    batch = next(iter(build_dataset(cfg, "test", False)))  # resolves itself
    assert batch["masks"].shape == (2, 16, 16)
    # A dataset of the user's own needs its metadata; CUB's ships.
    with pytest.raises(ValueError, match="Received: metadata_root=''"):
        resolve_dataset(
            DataConfig(dataset_name="mine", data_root=str(tmp_path))
        )


def test_cache_option_keeps_outputs(tiny_root):
    cfg = _tiny_config(tiny_root, eval_image_size=12, eval_batch_size=3)
    plain = next(iter(build_dataset(cfg, "test", False)))
    cached_ds = build_dataset(cfg.replace(cache=True), "test", False)
    for _ in range(2):  # second pass reads the cache
        cached = next(iter(cached_ds))
        for key in plain:
            np.testing.assert_array_equal(plain[key], cached[key])
    train = _tiny_config(
        tiny_root, resize_size=20, image_size=16, batch_size=1, cache=True
    )
    ds = build_dataset(train, "train", True)
    orders = {tuple(int(y[0]) for _, y in ds) for _ in range(6)}
    assert all(sorted(o) == [0, 1, 2] for o in orders)
    assert len(orders) > 1  # cached elements are reshuffled every epoch


def test_mask_root_without_masks_for_the_split(tiny_root, tmp_path):
    masks = tmp_path / "masks"
    (masks / "train").mkdir(parents=True)
    for name in ("image_ids.txt", "class_labels.txt"):
        src = os.path.join(tiny_root, "metadata/TINY/train", name)
        (masks / "train" / name).write_text(open(src).read())
    cfg = _tiny_config(
        tiny_root, mask_metadata_root=str(masks), eval_image_size=8
    )
    batch = next(iter(build_dataset(cfg, "train", False)))
    assert "masks" not in batch  # train has no localization.txt there
    with pytest.raises(ValueError, match="Received: mask_metadata_root="):
        build_dataset(
            cfg.replace(
                mask_metadata_root=os.path.join(tiny_root, "metadata/TINY")
            ),
            "test",
            False,
        )


@pytest.mark.parametrize("quality, subsampling", [(75, 2), (95, 0), (90, 1)])
def test_jpeg_decoding_equals_pil(tmp_path, quality, subsampling):
    from PIL import Image

    # A smooth pattern plus noise, odd sides (chroma upsampling at edges).
    rng = np.random.default_rng(quality)
    yy, xx = np.mgrid[0:61, 0:83]
    pattern = np.stack(
        [
            np.sin(xx / 7) * 100 + 128,
            np.cos(yy / 5) * 90 + 128,
            (xx + yy) * 1.2,
        ],
        axis=-1,
    )
    noisy = pattern + rng.normal(0, 25, pattern.shape)
    array = np.clip(noisy, 0, 255).astype(np.uint8)
    path = str(tmp_path / "photo.jpg")
    Image.fromarray(array).save(
        path, "JPEG", quality=quality, subsampling=subsampling
    )
    # wsolevaluation's loader: PIL open + convert("RGB").
    with Image.open(path) as image:
        want = np.asarray(image.convert("RGB"))
    got = image_ops.read_image(path).numpy()
    np.testing.assert_array_equal(got, want)
    bgr = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(got, bgr[..., ::-1])
    # TF's default (fast) IDCT is what this replaced: it is not PIL's.
    fast = tf.io.decode_jpeg(tf.io.read_file(path), channels=3).numpy()
    assert np.abs(fast.astype(int) - want).max() >= 2


def _photo(rng, height, width):
    """A natural-looking image: smooth colour fields plus fine noise."""
    low = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3))
    low = cv2.resize(low.astype(np.uint8), (width, height), cv2.INTER_CUBIC)
    noise = rng.normal(0, 12, (height, width, 3))
    return np.clip(low + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    "height, width, ext",
    [
        (375, 500, "jpg"),
        (500, 333, "jpg"),
        (181, 229, "jpg"),
        (480, 640, "png"),
    ],
)
def test_window_crop_equals_the_full_resize_crop(tmp_path, height, width, ext):
    # The protocol crop, re-done with numpy slicing on the full decode and
    # full resize: the window decode and crop-only resample read the same
    # pixels with the same kernel weights, so they differ at most by one
    # level where float rounding lands on .5 (a few pixels per million).
    rng = np.random.default_rng(height)
    path = str(tmp_path / f"photo.{ext}")
    cv2.imwrite(
        path, _photo(rng, height, width), [cv2.IMWRITE_JPEG_QUALITY, 90]
    )
    full = image_ops.resize_image(image_ops.read_image(path), 256).numpy()
    crop = tf.function(image_ops.read_resized_crop)
    diffs = []
    for oy, ox in [(0, 0), (32, 32), (0, 32), (32, 0), (13, 27), (31, 1)]:
        got = crop(path, 256, tf.constant(oy), tf.constant(ox), 224).numpy()
        want = full[oy : oy + 224, ox : ox + 224]
        diffs.append(np.abs(got.astype(int) - want.astype(int)))
    diffs = np.stack(diffs)
    assert diffs.max() <= 1
    assert (diffs > 0).mean() < 1e-4


def test_train_crops_equal_the_protocol_crops(write_dataset):
    # Training without cache crops from the decoded window; with cache it
    # crops the cached full resize. Every entry holds the same image, so
    # the order does not matter and position i of both streams gets the
    # same crop and flip draws.
    rng = np.random.default_rng(7)
    image = _photo(rng, 375, 500)
    data_root, metadata_root = write_dataset(
        {f"x/{i}.jpg": (image, 0, [[50, 40, 300, 200]]) for i in range(12)}
    )
    cfg = DataConfig(
        dataset_name="photos",
        data_root=data_root,
        metadata_root=metadata_root,
        num_classes=1,
        batch_size=12,
        normalization="none",
    )
    window = build_dataset(cfg, "s", True, with_boxes=True)
    full = build_dataset(cfg.replace(cache=True), "s", True, with_boxes=True)
    draws = set()
    for _ in range(2):  # two epochs: fresh draws each
        got, want = next(iter(window)), next(iter(full))
        draws |= {tuple(b) for b in got["boxes"].numpy()[:, 0]}
        np.testing.assert_array_equal(got["boxes"], want["boxes"])
        diff = np.abs(got["images"].numpy() - want["images"].numpy()) * 255
        assert diff.max() <= 1 + 1e-3
        assert (diff > 0.5).mean() < 1e-4
    assert len(draws) > 6  # the draws cover several offsets and flips
