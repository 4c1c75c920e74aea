"""Tests for wsol_tf/export/saved_model.py."""

import json
import os
import subprocess
import sys
import textwrap

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from wsol_tf.evaluation.reference import compute_bboxes_from_scoremaps
from wsol_tf.export import saved_model


def _cv2_largest_box(scoremap, threshold):
    """Independent oracle: OpenCV connected components (8-connectivity)."""
    s8 = (scoremap * 255).astype(np.uint8)
    fg = (s8 > int(threshold * s8.max())).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n <= 1:
        return [0, 0, 0, 0]
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = stats[k, :4]
    height, width = scoremap.shape
    return [x, y, min(x + w, width - 1), min(y + h, height - 1)]


def test_largest_component_box_hand_drawn():
    m = np.zeros((2, 10, 12), np.float32)
    m[0, 1:3, 1:4] = 1.0  # 6 px
    m[0, 5:9, 6:11] = 0.8  # 20 px, diagonal neighbour below joins it
    m[0, 9, 11] = 0.8
    m[0, 6:8, 7:9] = 0.0  # a hole does not change the box
    # Image 1: 0.5 * 255 = 127 is not > int(0.5 * 255) = 127 (strict).
    m[1, 2:4, 2:4] = 0.5
    m[1, 0, 0] = 1.0
    boxes = saved_model.largest_component_boxes(tf.constant(m), 0.5).numpy()
    # Box convention: (x0, y0, min(x1 + 1, W - 1), min(y1 + 1, H - 1)).
    np.testing.assert_array_equal(boxes[0], [6, 5, 11, 9])
    np.testing.assert_array_equal(boxes[1], [0, 0, 1, 1])
    empty = saved_model.largest_component_boxes(tf.zeros([1, 5, 5]), 0.3)
    np.testing.assert_array_equal(empty.numpy(), [[0, 0, 0, 0]])


def test_largest_component_box_matches_opencv_on_random_maps():
    rng = np.random.default_rng(0)
    maps = cv2.GaussianBlur(rng.random((40, 40, 6), np.float32), (0, 0), 2)
    maps = np.transpose(maps, (2, 0, 1))
    maps = (maps - maps.min((1, 2), keepdims=True)) / np.ptp(
        maps, (1, 2), keepdims=True
    )
    for t in (0.3, 0.6):
        got = saved_model.largest_component_boxes(tf.constant(maps), t)
        want = [_cv2_largest_box(m, t) for m in maps]
        np.testing.assert_array_equal(got.numpy(), want)


def test_largest_component_box_matches_the_reference_v1_on_cam_like_maps():
    # The protocol's literal V1 box (largest cv2.contourArea contour) on
    # smooth CAM-like maps, where ranking by pixel count picks the same
    # region (see `largest_component_boxes` for when they may differ).
    rng = np.random.default_rng(2)
    maps = []
    for _ in range(12):
        m = cv2.resize(rng.random((7, 7)), (56, 56), cv2.INTER_CUBIC)
        maps.append(((m - m.min()) / np.ptp(m)).astype(np.float32))
    maps = np.stack(maps)
    for t in (0.2, 0.4, 0.6, 0.8):
        got = saved_model.largest_component_boxes(tf.constant(maps), t)
        want = [compute_bboxes_from_scoremaps(m, [t])[0][0][0] for m in maps]
        np.testing.assert_array_equal(got.numpy(), want)


def test_in_graph_cubic_resize_matches_cv2_and_normalisation():
    rng = np.random.default_rng(1)
    cam = rng.normal(size=(7, 5)).astype(np.float32)
    want = cv2.resize(cam, (33, 33), interpolation=cv2.INTER_CUBIC)
    got = saved_model._resize_cams(tf.constant(cam[None]), 33).numpy()[0]
    np.testing.assert_allclose(got, want, atol=1e-5)
    maps = np.array([[[np.nan, 1.0]], [[2.0, 2.0]], [[1.0, 3.0]]], np.float32)
    norm = saved_model.normalize_scoremaps(tf.constant(maps)).numpy()
    np.testing.assert_array_equal(norm, [[[0, 0]], [[0, 0]], [[0, 1]]])


class TinyCamModel(keras.Model):
    """Test double with WSOLModel's compute_cams contract (not a substitute
    for wsol_tf.models: the real model is exported in tests/training)."""

    num_classes = 3

    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(
            self.num_classes, 3, strides=4, padding="same"
        )

    def call(self, images):
        maps = self.conv(images)
        return {"logits": keras.ops.mean(maps, axis=(1, 2)), "cams": maps}

    def compute_cams(self, images, class_ids=None):
        out = self(images)
        if class_ids is None:
            class_ids = keras.ops.argmax(out["logits"], axis=-1)
        cams = keras.ops.take_along_axis(
            out["cams"], keras.ops.reshape(class_ids, (-1, 1, 1, 1)), axis=-1
        )
        return out["logits"], cams[..., 0]


def test_export_loads_without_wsol_tf_and_matches(
    tmp_path, load_in_fresh_process
):
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = TinyCamModel()
    images = np.random.default_rng(2).normal(size=(3, 32, 32, 3))
    images = images.astype(np.float32)
    model(images)
    export_dir = tmp_path / "export"
    saved_model.export_saved_model(model, str(export_dir), 32, threshold=0.4)
    saved_model.export_saved_model(model, str(export_dir), 32, threshold=0.4)
    assert sorted(os.listdir(tmp_path)) == ["export"]  # replaced atomically
    out = load_in_fresh_process(export_dir, images, tmp_path)
    logits, cams = model.compute_cams(images)
    logits = np.asarray(logits, np.float32)
    np.testing.assert_allclose(out["logits"], logits, atol=1e-2)
    np.testing.assert_array_equal(out["class_ids"], logits.argmax(-1))
    for i, cam in enumerate(np.asarray(cams, np.float32)):
        want = cv2.resize(cam, (32, 32), interpolation=cv2.INTER_CUBIC)
        want = (want - want.min()) / (want - want.min()).max()
        np.testing.assert_allclose(out["cams"][i], want, atol=1e-4)
        assert list(out["boxes"][i]) == _cv2_largest_box(out["cams"][i], 0.4)
        assert list(out["low_boxes"][i]) == _cv2_largest_box(
            out["cams"][i], 0.1
        )
    assert "float32" in str(out["sig"]) and "32, 32, 3" in str(out["sig"])
    # localize_class: the CAMs of the given classes (image i: class i % 2),
    # the metrics' CAMs; class_ids stays the top-1 prediction.
    given = np.arange(len(images)) % 2
    _, class_cams = model.compute_cams(images, given)
    np.testing.assert_array_equal(out["given_class_ids"], logits.argmax(-1))
    for i, cam in enumerate(np.asarray(class_cams, np.float32)):
        want = cv2.resize(cam, (32, 32), interpolation=cv2.INTER_CUBIC)
        want = (want - want.min()) / (want - want.min()).max()
        np.testing.assert_allclose(out["given_cams"][i], want, atol=1e-4)
        assert list(out["given_boxes"][i]) == _cv2_largest_box(want, 0.1)


def test_export_rejects_bad_arguments(tmp_path):
    model = TinyCamModel()
    model(np.zeros((1, 8, 8, 3), np.float32))
    for kwargs in ({"image_size": 0}, {"image_size": 8, "threshold": 1.0}):
        try:
            saved_model.export_saved_model(model, str(tmp_path / "x"), **kwargs)
        except ValueError as e:
            assert "Received:" in str(e)
        else:
            raise AssertionError(f"no error for {json.dumps(kwargs)}")


def test_non_finite_images_are_flagged_not_class_0(
    tmp_path, load_in_fresh_process
):
    model = TinyCamModel()
    images = np.random.default_rng(3).normal(size=(4, 32, 32, 3))
    images = images.astype(np.float32)
    model(images)
    # NaN logits used to come out as argmax 0: a plausible-looking class.
    images[1, 5, 7, 0] = np.nan
    images[2, 0, 0, 2] = np.inf
    export_dir = tmp_path / "export"
    saved_model.export_saved_model(model, str(export_dir), 32)
    out = load_in_fresh_process(export_dir, images, tmp_path)
    np.testing.assert_array_equal(out["valid"], [True, False, False, True])
    want = np.asarray(model.compute_cams(images[[0, 3]])[0]).argmax(-1)
    np.testing.assert_array_equal(out["class_ids"], [want[0], -1, -1, want[1]])
    assert (out["scores"][[1, 2]] == 0).all()
    assert (out["scores"][[0, 3]] > 0).all()
    assert not out["cams"][[1, 2]].any() and out["cams"][[0, 3]].max() == 1
    np.testing.assert_array_equal(out["boxes"][[1, 2]], np.zeros((2, 4)))


SERVE_IMAGES = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf
    from PIL import Image
    loaded = tf.saved_model.load(sys.argv[1])
    batches = np.load(sys.argv[2], allow_pickle=False)
    results = {}
    for k, name in enumerate(sys.argv[3].split(",")):
        # The user's decode: PIL, as wsolevaluation's loader.
        paths = name.split("+")
        rgb = np.stack([np.asarray(Image.open(p).convert("RGB"))
                        for p in paths])
        raw = loaded.serve_images(tf.constant(rgb))
        ref = loaded.serve(tf.constant(batches[f"b{k}"]))
        for key in ("logits", "class_ids", "cams", "boxes", "valid"):
            results[f"{key}_raw_{k}"] = raw[key].numpy()
            results[f"{key}_ref_{k}"] = ref[key].numpy()
        # The given classes' CAMs (the metrics'), from files and batches.
        given = tf.constant(np.arange(len(paths)) % 2, tf.int32)
        t = tf.constant(0.3, tf.float32)
        raw = loaded.localize_class_images(tf.constant(rgb), given, t)
        ref = loaded.localize_class(tf.constant(batches[f"b{k}"]), given, t)
        for key in ("cams", "boxes"):
            results[f"given_{key}_raw_{k}"] = raw[key].numpy()
            results[f"given_{key}_ref_{k}"] = ref[key].numpy()
    assert not any(m.startswith("wsol_tf") for m in sys.modules)
    np.savez(sys.argv[4], **results)
    """
)


@pytest.mark.parametrize("normalization", ["imagenet", "caffe"])
def test_serve_images_matches_the_eval_pipeline_on_jpeg_files(
    tmp_path, normalization
):
    from wsol_tf.config import DataConfig
    from wsol_tf.config import ModelConfig
    from wsol_tf.data import build_dataset
    from wsol_tf.models import build_model

    # Real JPEG files of three sizes (two share one), in a one-split
    # dataset read by the training code's eval pipeline.
    rng = np.random.default_rng(4)
    data, split = tmp_path / "data", tmp_path / "meta" / "s"
    split.mkdir(parents=True)
    data.mkdir()
    sizes = [(50, 70), (33, 41), (50, 70), (120, 96)]  # (H, W)
    ids = []
    for k, (h, w) in enumerate(sizes):
        smooth = cv2.resize(rng.random((6, 6, 3)), (w, h)) * 255
        cv2.imwrite(str(data / f"{k}.jpg"), smooth.astype(np.uint8))
        ids.append(f"{k}.jpg")
    (split / "image_ids.txt").write_text("\n".join(ids))
    (split / "class_labels.txt").write_text(
        "\n".join(f"{i},{k % 2}" for k, i in enumerate(ids))
    )
    size = 40
    cfg = DataConfig(
        dataset_name="custom",
        data_root=str(data),
        metadata_root=str(tmp_path / "meta"),
        num_classes=2,
        eval_image_size=size,
        eval_batch_size=1,
        normalization=normalization,
    )
    pipeline = [b["images"].numpy() for b in build_dataset(cfg, "s", False)]
    model = build_model(
        ModelConfig(
            architecture="vgg16",
            method="cam",
            num_classes=2,
            width_multiplier=0.125,
        ),
        image_size=size,
    )
    export_dir = tmp_path / "export"
    saved_model.export_saved_model(
        model,
        str(export_dir),
        size,
        threshold=0.3,
        normalization=normalization,
    )
    # Calls: image 1 alone, images 0 and 2 (same size) together, image 3.
    calls = [[1], [0, 2], [3]]
    np.savez(
        tmp_path / "batches.npz",
        **{
            f"b{k}": np.concatenate([pipeline[i] for i in c])
            for k, c in enumerate(calls)
        },
    )
    names = ",".join("+".join(str(data / ids[i]) for i in c) for c in calls)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONPATH", None)
    subprocess.run(
        [
            sys.executable,
            "-c",
            SERVE_IMAGES,
            str(export_dir),
            str(tmp_path / "batches.npz"),
            names,
            str(tmp_path / "out.npz"),
        ],
        check=True,
        env=env,
        cwd=str(tmp_path),
    )
    out = np.load(tmp_path / "out.npz")
    for k in range(len(calls)):
        np.testing.assert_allclose(
            out[f"logits_raw_{k}"], out[f"logits_ref_{k}"], atol=1e-5
        )
        np.testing.assert_allclose(
            out[f"cams_raw_{k}"], out[f"cams_ref_{k}"], atol=1e-5
        )
        for key in ("class_ids", "boxes", "valid"):
            np.testing.assert_array_equal(
                out[f"{key}_raw_{k}"], out[f"{key}_ref_{k}"]
            )
        assert out[f"valid_raw_{k}"].all()
        np.testing.assert_allclose(
            out[f"given_cams_raw_{k}"], out[f"given_cams_ref_{k}"], atol=1e-5
        )
        np.testing.assert_array_equal(
            out[f"given_boxes_raw_{k}"], out[f"given_boxes_ref_{k}"]
        )
    # The pipeline's input itself, rebuilt from the decoded file.
    from PIL import Image

    rgb = np.asarray(Image.open(data / ids[3]).convert("RGB"))
    np.testing.assert_allclose(
        saved_model.preprocess_images(rgb[None], size, normalization),
        pipeline[3],
        atol=1e-5,
    )


IMPOSSIBLE_REQUESTS = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    images = tf.constant(np.load(sys.argv[2]))
    results = {}
    ids = tf.constant([0, 5, -1, 2], tf.int32)
    out = loaded.localize_class(images, ids, tf.constant(0.3))
    for key in ("valid", "class_ids", "scores", "cams", "boxes"):
        results[f"ids_{key}"] = out[key].numpy()
    ok = tf.constant([0, 1, 1, 2], tf.int32)
    for name, t in (("nan", np.nan), ("two", 2.0), ("neg", -0.1),
                    ("one", 1.0)):
        t = tf.constant(t, tf.float32)
        results[f"t_{name}"] = loaded.localize(images, t)["valid"].numpy()
        results[f"tc_{name}"] = loaded.localize_class(
            images, ok, t)["valid"].numpy()
    try:
        loaded.localize_class(images, ok[:3], tf.constant(0.3))
    except tf.errors.InvalidArgumentError as e:
        results["mismatch"] = np.array(e.message)
    assert not any(m.startswith("wsol_tf") for m in sys.modules)
    np.savez(sys.argv[3], **results)
    """
)


def test_impossible_requests_are_flagged_or_named(
    tmp_path, load_in_fresh_process
):
    # A 3-class model; image 1 asks for class 5, image 2 for class -1.
    model = TinyCamModel()
    images = np.random.default_rng(5).normal(size=(4, 32, 32, 3))
    images = images.astype(np.float32)
    model(images)
    export_dir = tmp_path / "export"
    saved_model.export_saved_model(model, str(export_dir), 32)
    out = load_in_fresh_process(
        export_dir, images, tmp_path, IMPOSSIBLE_REQUESTS
    )
    np.testing.assert_array_equal(out["ids_valid"], [True, False, False, True])
    np.testing.assert_array_equal(out["ids_class_ids"][[1, 2]], [-1, -1])
    assert not out["ids_scores"][[1, 2]].any()
    assert not out["ids_cams"][[1, 2]].any()
    assert not out["ids_boxes"][[1, 2]].any()
    # The other rows are the given classes' CAMs, as without the bad rows.
    _, cams = model.compute_cams(images[[0, 3]], np.array([0, 2]))
    for row, cam in zip((0, 3), np.asarray(cams, np.float32)):
        want = cv2.resize(cam, (32, 32), interpolation=cv2.INTER_CUBIC)
        want = (want - want.min()) / (want - want.min()).max()
        np.testing.assert_allclose(out["ids_cams"][row], want, atol=1e-4)
        assert list(out["ids_boxes"][row]) == _cv2_largest_box(want, 0.3)
    # A threshold outside [0, 1] answers no image; 1.0 is a valid request.
    for name in ("nan", "two", "neg"):
        assert not out[f"t_{name}"].any() and not out[f"tc_{name}"].any()
    assert out["t_one"].all() and out["tc_one"].all()
    message = str(out["mismatch"])
    assert "got] [3] [class ids for] [4] [images" in message, message
