"""The class-label rule: one function for training and check_dataset.py.

A train label 9 among classes 0-3 and a val label 7 must stop both
`resolve_dataset` (training, evaluation) and tools/check_dataset.py with
the file and line, unless --num_classes allows them.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from wsol_tf.config import DataConfig
from wsol_tf.data import MetadataError
from wsol_tf.data import check_class_labels
from wsol_tf.data import infer_num_classes
from wsol_tf.data import resolve_dataset

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


@pytest.fixture
def dataset(write_dataset):
    """dataset(train_labels, val_labels) -> (data_root, metadata_root) of
    real train / val / test splits (8x8 PNGs, one box each)."""

    def make(train_labels, val_labels, test_labels=(0, 1)):
        image = np.full((8, 8, 3), 90, np.uint8)
        for split, labels in (
            ("train", train_labels),
            ("val", val_labels),
            ("test", test_labels),
        ):
            roots = write_dataset(
                {
                    f"{split}/{k}.png": (image, label, [(1, 1, 6, 6)])
                    for k, label in enumerate(labels)
                },
                split=split,
            )
        return roots

    return make


def _check_tool(metadata_root, data_root, *flags):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "check_dataset.py"),
            f"--metadata_root={metadata_root}",
            f"--data_root={data_root}",
            *flags,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _resolve(data_root, metadata_root, num_classes=None):
    return resolve_dataset(
        DataConfig(
            dataset_name="cub",
            data_root=data_root,
            metadata_root=metadata_root,
            num_classes=num_classes,
        )
    )


@pytest.mark.integration
def test_train_label_typo_is_a_gap_for_training_and_the_checker(dataset):
    # Classes 0-3, and the fifth train line says 9 (a typo for 3?).
    data_root, meta_root = dataset([0, 1, 2, 3, 9, 1], [0, 1, 2, 3])
    where = os.path.join(meta_root, "train", "class_labels.txt") + ":5:"
    with pytest.raises(MetadataError) as info:
        _resolve(data_root, meta_root)
    first_line = str(info.value).splitlines()[0]
    assert where in first_line and "skip class(es) 4-8" in first_line
    result = _check_tool(meta_root, data_root)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith(where)]
    assert len(lines) == 1 and "class label 9" in lines[0], result.stdout
    assert "1 problem(s) in total" in result.stdout
    # --num_classes=10 says the gap is intended: both accept it.
    assert _resolve(data_root, meta_root, num_classes=10).num_classes == 10
    result = _check_tool(meta_root, data_root, "--num_classes=10")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: no problems" in result.stdout


@pytest.mark.integration
def test_val_label_out_of_range_for_training_and_the_checker(dataset):
    data_root, meta_root = dataset([0, 1, 2, 3], [0, 7, 1])
    where = os.path.join(meta_root, "val", "class_labels.txt") + ":2:"
    message = "class label 7 out of range: expected 0 <= label < 4"
    with pytest.raises(MetadataError) as info:
        _resolve(data_root, meta_root)
    assert f"{where} {message}" in str(info.value).splitlines()[0]
    result = _check_tool(meta_root, data_root, "--splits=val,test")
    assert result.returncode == 1, result.stdout + result.stderr
    # Reported once, although both the label rule and the split's own
    # metadata check see it.
    assert result.stdout.count(f"{where} {message}") == 1, result.stdout
    assert "[val] 1 problem(s)" in result.stdout
    # An explicit class count above 7 accepts it; one below rejects it.
    assert _resolve(data_root, meta_root, num_classes=8).num_classes == 8
    with pytest.raises(MetadataError, match="label < 6"):
        _resolve(data_root, meta_root, num_classes=6)


def test_check_class_labels_collects_every_split(dataset):
    _, meta_root = dataset([0, 2, 1, 2], [0, 5, -1], test_labels=[3, 0])
    num_classes, problems = check_class_labels(
        meta_root, ["val", "test"], "train"
    )
    assert num_classes == 3
    assert list(problems) == ["train", "val", "test"]
    assert problems["train"] == []
    assert [p.split(": ")[0] for p in problems["val"]] == [
        os.path.join(meta_root, "val", "class_labels.txt:2"),
        os.path.join(meta_root, "val", "class_labels.txt:3"),
    ]
    assert problems["test"] == [
        os.path.join(meta_root, "test", "class_labels.txt:1")
        + ": class label 3 out of range: expected 0 <= label < 3 "
        "(num_classes=3)"
    ]
    # A gap in the middle names the first line of each label above it.
    _, meta_root = dataset([0, 3, 3, 1, 4], [0])
    num_classes, problems = check_class_labels(meta_root, ["val"])
    assert num_classes == 5
    assert [p.split(": ")[0].rsplit(":", 1)[1] for p in problems["train"]] == [
        "2",
        "5",
    ]
    assert "skip class(es) 2 of 0..4" in problems["train"][0]


def test_infer_num_classes_needs_every_class(make_split):
    root = make_split({"class_labels.txt": "x/a.jpg,1\nx/b.jpg,0"})
    assert infer_num_classes(root, "test") == 2
    with pytest.raises(MetadataError, match=r"class_labels.txt:1: class lab"):
        infer_num_classes(
            make_split({"class_labels.txt": "x/a.jpg,4\nx/b.jpg,2"}), "test"
        )
