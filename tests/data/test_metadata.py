"""Metadata reader: hand-written files, every bad-input case, validation."""

import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from wsol_tf.data import MetadataError
from wsol_tf.data import infer_num_classes
from wsol_tf.data import read_metadata
from wsol_tf.data import validate_dataset

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def test_reads_box_metadata(tiny_root):
    meta = read_metadata(os.path.join(tiny_root, "metadata/TINY"), "test")
    assert meta.image_ids == ["images/a.png", "images/b.png", "images/c.jpg"]
    assert meta.labels == {
        "images/a.png": 0,
        "images/b.png": 1,
        "images/c.jpg": 2,
    }
    assert meta.sizes["images/a.png"] == (40, 30)
    assert meta.sizes["images/c.jpg"] == (32, 16)
    assert meta.boxes["images/b.png"] == [(2, 2, 7, 9), (15, 10, 21, 20)]
    assert meta.boxes["images/c.jpg"] == [(0, 0, 31, 15)]
    assert meta.masks == {}
    assert meta.annotation == "boxes"
    assert meta.num_classes == 3


def test_reads_mask_metadata_with_empty_and_missing_ignore(tiny_root):
    meta = read_metadata(
        os.path.join(tiny_root, "metadata/TINY_MASKS"), "test", tiny_root
    )
    assert meta.annotation == "masks"
    assert meta.sizes == {}  # image_sizes.txt is empty, as OpenImages
    assert meta.masks["images/a.png"] == (["masks/a_m0.png"], None)
    assert meta.masks["images/b.png"] == (
        ["masks/b_m0.png", "masks/b_m1.png"],
        "masks/b_ignore.png",
    )
    # A line with no ignore field at all (the reference code crashes).
    assert meta.masks["images/c.jpg"] == (["masks/c_m0.png"], None)


def test_tolerates_crlf_blank_lines_bom_and_no_final_newline(make_split):
    root = make_split(
        {
            "image_ids.txt": "\ufeffx/a.jpg\r\nx/b.jpg\r\n\r\n\r\n",
            "class_labels.txt": "x/a.jpg,0\n\nx/b.jpg, 3",
            "localization.txt": "x/a.jpg,1,2,39,29\r\nx/a.jpg,0,0,1,1\r\n"
            "x/b.jpg,0,0,5,5\n\n",
        }
    )
    meta = read_metadata(root, "test")
    assert meta.image_ids == ["x/a.jpg", "x/b.jpg"]
    assert meta.labels == {"x/a.jpg": 0, "x/b.jpg": 3}
    assert meta.boxes["x/a.jpg"] == [(1, 2, 39, 29), (0, 0, 1, 1)]
    assert meta.num_classes == 4  # max label + 1
    assert read_metadata(root, "test", num_classes=10).num_classes == 10


def test_optional_files_may_be_absent(make_split):
    # As the OpenImages train split: no image_sizes.txt, no localization.
    root = make_split({"image_sizes.txt": None, "localization.txt": None})
    meta = read_metadata(root, "test")
    assert meta.annotation is None
    assert meta.sizes == {} and meta.boxes == {}


def test_sizes_come_from_images_when_image_sizes_is_empty(tmp_path):
    data = tmp_path / "data"
    (data / "x").mkdir(parents=True)
    cv2.imwrite(str(data / "x" / "a.png"), np.zeros((7, 9, 3), np.uint8))
    split = tmp_path / "meta" / "s"
    split.mkdir(parents=True)
    (split / "image_ids.txt").write_text("x/a.png")
    (split / "class_labels.txt").write_text("x/a.png,0")
    (split / "image_sizes.txt").write_text("")
    (split / "localization.txt").write_text("x/a.png,0,0,8,6")
    meta = read_metadata(str(tmp_path / "meta"), "s", str(data))
    assert meta.sizes == {"x/a.png": (9, 7)}
    (split / "localization.txt").write_text("x/a.png,0,0,9,6")
    with pytest.raises(MetadataError, match=r"localization.txt:1: .*x1 <= 8"):
        read_metadata(str(tmp_path / "meta"), "s", str(data))


# (file to override, its text, file named in the message, line, message)
BAD_CASES = {
    "missing_file": (
        "class_labels.txt",
        None,
        "class_labels.txt",
        0,
        "missing metadata file",
    ),
    "wrong_field_count": (
        "class_labels.txt",
        "x/a.jpg,0\nx/b.jpg,1,7\n",
        "class_labels.txt",
        2,
        "expected 2 fields",
    ),
    "non_integer_label": (
        "class_labels.txt",
        "x/a.jpg,0\nx/b.jpg,one\n",
        "class_labels.txt",
        2,
        "expected integers",
    ),
    "non_integer_box": (
        "localization.txt",
        "x/a.jpg,1,2,39,29\nx/b.jpg,0,0,5.5,5\n",
        "localization.txt",
        2,
        "expected integers",
    ),
    "box_wrong_field_count": (
        "localization.txt",
        "x/a.jpg,1,2,39,29\nx/b.jpg,0,0,5\n",
        "localization.txt",
        2,
        "expected 5 fields",
    ),
    "box_x1_outside": (
        "localization.txt",
        "x/a.jpg,1,2,40,29\nx/b.jpg,0,0,5,5\n",
        "localization.txt",
        1,
        "outside the 40x30 image",
    ),
    "box_y1_outside": (
        "localization.txt",
        "x/a.jpg,1,2,39,29\nx/b.jpg,0,0,5,10\n",
        "localization.txt",
        2,
        "outside the 20x10 image",
    ),
    "box_negative": (
        "localization.txt",
        "x/a.jpg,-1,2,39,29\nx/b.jpg,0,0,5,5\n",
        "localization.txt",
        1,
        "expected 0 <= x0 <= x1",
    ),
    "box_x1_before_x0": (
        "localization.txt",
        "x/a.jpg,1,2,39,29\nx/b.jpg,6,0,5,5\n",
        "localization.txt",
        2,
        "expected 0 <= x0 <= x1",
    ),
    "negative_label": (
        "class_labels.txt",
        "x/a.jpg,-1\nx/b.jpg,1\n",
        "class_labels.txt",
        1,
        "out of range",
    ),
    "id_not_in_image_ids": (
        "class_labels.txt",
        "x/a.jpg,0\nx/b.jpg,1\nx/zzz.jpg,1\n",
        "class_labels.txt",
        3,
        "'x/zzz.jpg' is not listed in image_ids.txt",
    ),
    "id_without_label": (
        "class_labels.txt",
        "x/a.jpg,0\n",
        "image_ids.txt",
        2,
        "'x/b.jpg' has no label in class_labels.txt",
    ),
    "id_without_size": (
        "image_sizes.txt",
        "x/b.jpg,20,10\n",
        "image_ids.txt",
        1,
        "'x/a.jpg' has no size in image_sizes.txt",
    ),
    "id_without_localization": (
        "localization.txt",
        "x/a.jpg,1,2,39,29\n",
        "image_ids.txt",
        2,
        "'x/b.jpg' has no entry in localization.txt",
    ),
    "duplicate_id": (
        "image_ids.txt",
        "x/a.jpg\nx/b.jpg\nx/a.jpg\n",
        "image_ids.txt",
        3,
        "duplicate image id 'x/a.jpg' \\(first on line 1\\)",
    ),
    "empty_split": ("image_ids.txt", "\n\n", "image_ids.txt", 0, "empty split"),
    "ignore_on_later_line": (
        "localization.txt",
        "x/a.jpg,m/a0.png,m/ai.png\nx/a.jpg,m/a1.png,m/ai.png\n"
        "x/b.jpg,m/b0.png\n",
        "localization.txt",
        2,
        "only its first line may name one",
    ),
    "unknown_localization_format": (
        "localization.txt",
        "x/a.jpg,1,2,3\n",
        "localization.txt",
        1,
        "expected `<image_id>,<x0>,<y0>,<x1>,<y1>` \\(boxes\\) or",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_names_file_and_line(make_split, case):
    name, text, where, line, message = BAD_CASES[case]
    root = make_split({name: text})
    location = os.path.join(root, "test", where) + (
        f":{line}:" if line else ":"
    )
    with pytest.raises(MetadataError) as info:
        read_metadata(root, "test")
    text = str(info.value)
    assert location in text, text
    assert re.search(message, text), text
    # validate_dataset reports the same problem as a "file:line: ..." row.
    problems = validate_dataset(root, "test", None, check_images=False)
    assert any(p.startswith(location) for p in problems), problems


def test_label_out_of_range_when_num_classes_given(make_split):
    root = make_split()
    with pytest.raises(
        MetadataError,
        match=r"class_labels.txt:2: class label 1 "
        r"out of range: expected 0 <= label < 1",
    ):
        read_metadata(root, "test", num_classes=1)


def test_missing_split_directory(make_split):
    root = make_split()
    with pytest.raises(MetadataError, match=r"nope: split directory not found"):
        read_metadata(root, "nope")


def test_infer_num_classes(make_split):
    # Labels must cover 0..max (issue 13): 4 and 2 alone are now a gap
    # (tests/data/test_metadata_labels.py).
    root = make_split(
        {
            "class_labels.txt": "x/a.jpg,4\nx/b.jpg,2\nx/c.jpg,0\nx/d.jpg,3\n"
            "x/e.jpg,1"
        }
    )
    assert infer_num_classes(root, "test") == 5
    with pytest.raises(MetadataError, match=r"class_labels.txt:1: expected 2"):
        infer_num_classes(make_split({"class_labels.txt": "x/a.jpg"}), "test")


def test_validate_dataset_collects_every_problem(tmp_path):
    data = tmp_path / "data"
    (data / "x").mkdir(parents=True)
    ok, jpeg = cv2.imencode(".jpg", np.full((10, 20, 3), 99, np.uint8))
    (data / "x" / "a.jpg").write_bytes(jpeg.tobytes()[: len(jpeg) // 2])
    cv2.imwrite(str(data / "x" / "b.png"), np.zeros((10, 21, 3), np.uint8))
    split = tmp_path / "meta" / "test"
    split.mkdir(parents=True)
    (split / "image_ids.txt").write_text("x/a.jpg\nx/b.png\nx/c.jpg\n")
    (split / "class_labels.txt").write_text("x/a.jpg,0\nx/b.png,x\nx/c.jpg,1")
    (split / "image_sizes.txt").write_text(
        "x/a.jpg,20,10\nx/b.png,20,10\nx/c.jpg,5,5"
    )
    (split / "localization.txt").write_text(
        "x/a.jpg,0,0,19,9\nx/b.png,0,0,20,9\nx/c.jpg,3,0,2,1"
    )
    problems = validate_dataset(str(tmp_path / "meta"), "test", str(data))
    s = str(split)
    expected = [
        (f"{s}/class_labels.txt:2:", "expected integers"),
        (f"{s}/localization.txt:2:", "outside the 20x10 image"),
        (f"{s}/localization.txt:3:", "expected 0 <= x0 <= x1"),
        (f"{s}/image_ids.txt:1:", "corrupt or unsupported image"),
        (f"{s}/image_sizes.txt:2:", "is 21x10 on disk, but image_sizes.txt"),
        (f"{s}/image_ids.txt:3:", "file not found"),
    ]
    for prefix, message in expected:
        assert any(p.startswith(prefix) and message in p for p in problems), (
            prefix,
            message,
            problems,
        )
    assert len(problems) == len(expected), problems
    corrupt = [p for p in problems if "corrupt" in p][0]
    assert str(data / "x" / "a.jpg") in corrupt


def test_validate_dataset_checks_mask_files(tiny_root, tmp_path):
    assert (
        validate_dataset(
            os.path.join(tiny_root, "metadata/TINY_MASKS"), "test", tiny_root
        )
        == []
    )
    assert (
        validate_dataset(
            os.path.join(tiny_root, "metadata/TINY"), "train", tiny_root
        )
        == []
    )
    problems = validate_dataset(
        os.path.join(tiny_root, "metadata/TINY_MASKS"), "test", str(tmp_path)
    )
    # 3 images + 4 instance masks + 1 ignore mask are all missing here.
    assert len(problems) == 8, problems
    assert any(
        "localization.txt:2: mask of 'images/b.png'" in p
        and "b_ignore.png" in p
        for p in problems
    ), problems


@pytest.mark.integration
def test_check_dataset_tool_lists_problems_and_fails(make_split, tiny_root):
    root = make_split({"class_labels.txt": "x/a.jpg,0\nx/b.jpg,1,7\n"})
    tool = os.path.join(REPO, "tools", "check_dataset.py")
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    bad = subprocess.run(
        [
            sys.executable,
            tool,
            f"--metadata_root={root}",
            "--data_root=/none",
            "--splits=test",
            "--nocheck_images",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 1
    assert f"{root}/test/class_labels.txt:2: expected 2 fields" in bad.stdout
    assert "1 problem(s) in total" in bad.stdout
