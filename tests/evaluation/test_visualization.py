"""CAM tiles captioned with the true class, the prediction and the box IoU;
the evaluation progress bar."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from wsol_tf import visualization
from wsol_tf.config import EvalConfig
from wsol_tf.evaluation.runner import evaluate_model
from wsol_tf.evaluation.runner import progress_bar

SIZE = 64  # the smoke preset's evaluation size


class BlockCamModel:
    """Hand-made CAMs: class 0 a block over rows 0..31, cols 0..15; class 1
    over rows and cols 32..63. Every image predicts class 1."""

    def compute_cams(self, images, labels):
        cams = np.zeros((len(images), SIZE, SIZE), np.float32)
        for i, label in enumerate(np.asarray(labels)):
            if label == 0:
                cams[i, 0:32, 0:16] = 1.0
            else:
                cams[i, 32:64, 32:64] = 1.0
        logits = np.tile(np.array([[0.0, 1.0]], np.float32), (len(images), 1))
        return logits, cams


def _batch():
    return {
        "images": np.zeros((2, SIZE, SIZE, 3), np.float32),
        "labels": np.array([0, 1], np.int32),
        "boxes": np.array(
            [
                [[0, 0, 31, 31], [-1, -1, -1, -1]],
                [[32, 32, 63, 63], [0, 0, 1, 1]],
            ],
            np.int32,
        ),
    }


def test_box_iou_is_the_best_gt_match_by_hand():
    # Pred 10x10 = 100 px. GT a (7..16): overlap 5x5 = 25, IoU 25 / 175.
    # GT b (0..5): overlap 4x4 = 16, area 36, IoU 16 / 120. The best: a.
    pred = [[2, 2, 11, 11]]
    gt = [[7, 7, 16, 16], [0, 0, 5, 5], [-1, -1, -1, -1]]
    assert visualization.box_iou(pred, gt) == pytest.approx(25 / 175)
    assert visualization.tile_caption(3, 1, 25 / 175) == (
        "true 3 pred 1\nIoU 0.14"
    )
    assert visualization.box_iou(pred, [[-1, -1, -1, -1]]) == 0.0
    assert visualization.box_iou(np.zeros((0, 4)), gt) == 0.0


def _band(grid, index, lines=2, padding=4, columns=4):
    height = SIZE + lines * visualization.CAPTION_LINE_HEIGHT
    r, c = divmod(index, columns)
    y = padding + r * (height + padding) + SIZE
    x = padding + c * (SIZE + padding)
    return grid[y : y + height - SIZE, x : x + SIZE]


def test_visualize_split_captions_each_tile(tmp_path):
    # Largest-contour boxes at 0.5, (x, y, min(x + w, W - 1),
    # min(y + h, H - 1)) as wsolevaluation: image 0 (0, 0, 16, 32) on GT
    # (0, 0, 31, 31): 17 x 32 = 544 over 17 x 33 + 1024 - 544 = 1041;
    # image 1 (32, 32, 63, 63), the GT box itself (the tiny second GT box
    # matches worse).
    assert 544 / 1041 == pytest.approx(0.5226, abs=1e-4)
    want = ["true 0 pred 1\nIoU 0.52", "true 1 pred 1\nIoU 1.00"]
    result = visualization.visualize_split(
        BlockCamModel(),
        [_batch()],
        str(tmp_path),
        normalization="none",
        eval_config=EvalConfig(),
        threshold=0.5,
    )
    grid = cv2.cvtColor(cv2.imread(result["grid"]), cv2.COLOR_BGR2RGB)
    band = 2 * visualization.CAPTION_LINE_HEIGHT
    assert grid.shape == (SIZE + band + 8, 2 * SIZE + 12, 3)
    blank = np.zeros((SIZE, SIZE, 3), np.uint8)
    for index, caption in enumerate(want):
        drawn = visualization.add_caption(blank, caption)[SIZE:]
        np.testing.assert_array_equal(_band(grid, index), drawn)
        assert (drawn < 128).all(axis=-1).sum() > 50  # the text is there
    # Another caption draws other pixels: the band pins the text.
    other = visualization.add_caption(blank, "true 0 pred 0\nIoU 0.52")
    assert not np.array_equal(_band(grid, 0), other[SIZE:])


def test_progress_bar_counts_batches_and_images(capsys):
    data = _batch()
    data["boxes"] = data["boxes"][:, :1]
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(1)
    evaluate_model(BlockCamModel(), dataset, progress=progress_bar(dataset))
    out = capsys.readouterr().out
    assert "2/2" in out  # the dataset's two batches, then done
    assert "images: 2" in out


def test_the_grid_takes_its_images_round_robin_over_the_classes():
    from wsol_tf.visualization import spread_indices

    # Sorted by class, as a split's metadata usually is.
    labels = [0, 0, 0, 1, 1, 2]
    # Class 0's first, class 1's first, class 2's only, class 0's second.
    assert spread_indices(labels, 4) == [0, 1, 3, 5]
    assert spread_indices(labels, 3) == [0, 3, 5]
    assert spread_indices(labels, 10) == [0, 1, 2, 3, 4, 5]
    assert spread_indices([2, 2, 1], 2) == [0, 2]


class _CountedPasses:
    """A list of batches that counts the passes over it."""

    def __init__(self, batches):
        self.batches, self.passes = batches, 0

    def __iter__(self):
        self.passes += 1
        return iter(self.batches)


def test_given_labels_the_grid_reads_the_split_once(tmp_path):
    # The curve given: only the grid reads the split.
    curve = visualization.split_box_curve(
        BlockCamModel(), [_batch(), _batch()], EvalConfig()
    )
    kwargs = dict(normalization="none", eval_config=EvalConfig(), threshold=0.5)
    grids = []
    for labels, passes in ((None, 2), (np.array([0, 1, 0, 1]), 1)):
        split = _CountedPasses([_batch(), _batch()])
        result = visualization.visualize_split(
            BlockCamModel(),
            split,
            str(tmp_path / str(passes)),
            num_images=2,
            labels=labels,
            curve=curve,
            **kwargs,
        )
        assert split.passes == passes
        grids.append(cv2.imread(result["grid"]))
    np.testing.assert_array_equal(grids[0], grids[1])


def test_split_labels_are_the_eval_datasets_labels_without_images(tmp_path):
    from wsol_tf.config import DataConfig
    from wsol_tf.data import build_dataset
    from wsol_tf.data import resolve_dataset
    from wsol_tf.data import split_labels

    data = resolve_dataset(
        DataConfig(
            cache_dir=str(tmp_path),
            synthetic_num_classes=3,
            synthetic_train_per_class=1,
            synthetic_val_per_class=2,
            synthetic_test_per_class=2,
            synthetic_image_size=48,
            image_size=32,
            resize_size=36,
            eval_image_size=32,
            batch_size=4,
        )
    )
    got = split_labels(data, "test")
    want = np.concatenate(
        [b["labels"] for b in build_dataset(data, "test", training=False)]
    )
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.int32 and sorted(got) == [0, 0, 1, 1, 2, 2]
