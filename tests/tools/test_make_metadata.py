"""Tests for tools/make_metadata.py (wsol_tf/cli/make_metadata.py and
wsol_tf/data/folder_metadata.py) on small folders of class folders."""

import os

import cv2
import numpy as np
import pytest
from absl import flags

from wsol_tf.cli import flagfiles
from wsol_tf.cli import make_metadata
from wsol_tf.cli.errors import one_line_errors
from wsol_tf.data import read_metadata
from wsol_tf.data.resolve import shipped_metadata_root


def _write_image(path, height, width):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image = np.full((height, width, 3), 128, np.uint8)
    assert cv2.imwrite(path, image)


@pytest.fixture
def tree(tmp_path):
    """data/images/{a_cat,b_dog,c_empty}: 3 images, a corrupt JPEG, a
    non-image file and an empty class folder."""
    images = tmp_path / "data" / "images"
    _write_image(str(images / "a_cat" / "z.bmp"), 9, 12)
    _write_image(str(images / "b_dog" / "x.jpg"), 20, 30)
    _write_image(str(images / "b_dog" / "nested" / "y.png"), 25, 15)
    with open(images / "b_dog" / "x.jpg", "rb") as f:
        (images / "a_cat" / "corrupt.jpg").write_bytes(f.read(60))
    (images / "a_cat" / "notes.txt").write_text("not an image\n")
    (images / "c_empty").mkdir()
    return images


def _run(*argv):
    flagfiles.parse_flags(["make_metadata.py", *argv])
    try:
        one_line_errors(make_metadata.main)(["make_metadata.py"])
    finally:
        flags.FLAGS.unparse_flags()


def _lines(split_dir, name):
    with open(os.path.join(split_dir, name)) as f:
        return f.read().splitlines()


def test_unreadable_file_is_named_and_nothing_written(tree, tmp_path, capsys):
    output = tmp_path / "meta" / "train"
    with pytest.raises(SystemExit) as exit_:
        _run(f"--image_dir={tree}", f"--output={output}")
    assert exit_.value.code == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("ERROR: 1 of the 4 image files under ")
    corrupt = os.path.join(str(tree), "a_cat", "corrupt.jpg")
    assert err[1:] == [
        f"  {corrupt}: truncated: the file ends inside its header"
    ]
    assert not os.path.exists(output)


def test_skip_unreadable_writes_the_four_files(tree, tmp_path, capsys):
    output = tmp_path / "meta" / "train"
    _run(f"--image_dir={tree}", f"--output={output}", "--skip_unreadable")
    captured = capsys.readouterr()
    assert f"{tree / 'c_empty'}: no image files" in captured.out
    assert f"{tree / 'a_cat' / 'notes.txt'}: not an image" in captured.out
    assert "corrupt.jpg: truncated" in captured.err
    ids = [
        "images/a_cat/z.bmp",
        "images/b_dog/nested/y.png",
        "images/b_dog/x.jpg",
    ]
    assert _lines(output, "image_ids.txt") == ids
    assert _lines(output, "class_labels.txt") == [
        f"{i},{label}" for i, label in zip(ids, [0, 1, 1])
    ]
    # Sizes as cv2 decodes the files (W, H).
    data_root = tmp_path / "data"
    sizes = []
    for i in ids:
        height, width = cv2.imread(str(data_root / i)).shape[:2]
        sizes.append(f"{i},{width},{height}")
    assert _lines(output, "image_sizes.txt") == sizes
    assert _lines(output, "localization.txt") == []
    meta = read_metadata(str(tmp_path / "meta"), "train", str(data_root))
    assert meta.num_classes == 2 and meta.annotation is None


def test_data_root_and_class_lists(tree, tmp_path):
    (tree / "a_cat" / "corrupt.jpg").unlink()
    output = tmp_path / "meta" / "train"
    names = tmp_path / "names.txt"
    names.write_text("b_dog\nc_empty\na_cat\n")
    _run(
        f"--image_dir={tree}",
        f"--output={output}",
        f"--data_root={tree}",
        f"--classes_from={names}",
    )
    assert _lines(output, "class_labels.txt") == [
        "a_cat/z.bmp,2",
        "b_dog/nested/y.png,0",
        "b_dog/x.jpg,0",
    ]
    # A class_labels.txt: each id's parent folder takes its label.
    labels = tmp_path / "class_labels.txt"
    labels.write_text("x/b_dog/1.jpg,4\nx/a_cat/2.jpg,3\nx/b_dog/3.jpg,4\n")
    _run(
        f"--image_dir={tree}", f"--output={output}", f"--classes_from={labels}"
    )
    assert [line[-1] for line in _lines(output, "class_labels.txt")] == [
        "3",
        "4",
        "4",
    ]


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--classes_from={names}"], "not in it: 'b_dog'"),
        (["--classes_from={labels}"], "labels.txt:2: class 'a_cat' again"),
        (["--data_root={other}"], "Expected data_root to be image_dir or"),
        (["--image_dir={other}/none"], "Expected image_dir to be a dir"),
    ],
)
def test_bad_input_is_one_line(tree, tmp_path, capsys, argv, message):
    (tmp_path / "names.txt").write_text("a_cat\nc_empty\n")
    (tmp_path / "labels.txt").write_text("a/a_cat/1.jpg,0\nb/a_cat/2.jpg,1\n")
    other = tmp_path / "other"
    other.mkdir()
    values = dict(names=tmp_path / "names.txt", other=other)
    values["labels"] = tmp_path / "labels.txt"
    argv = [a.format(**values) for a in argv]
    with pytest.raises(SystemExit):
        _run(f"--image_dir={tree}", f"--output={tmp_path / 'm' / 't'}", *argv)
    err = capsys.readouterr().err
    assert err.startswith("ERROR: ") and message in err.splitlines()[0]


def test_cub_layout_with_copy_shipped(tmp_path):
    """One image per CUB class folder: the sorted folder names give CUB's
    shipped labels, and the copied val/test splits check against them."""
    shipped = shipped_metadata_root("cub")
    folders = {}
    for line in _lines(os.path.join(shipped, "train"), "class_labels.txt"):
        image_id, label = line.split(",")
        folders[image_id.split("/")[0]] = int(label)
    images = tmp_path / "CUB" / "images"
    for k, name in enumerate(sorted(folders)):
        _write_image(str(images / name / f"{k}.jpg"), 8 + k % 5, 10)
    output = tmp_path / "meta" / "CUB" / "train"
    _run(
        f"--image_dir={images}",
        f"--output={output}",
        f"--data_root={images}",
        "--copy_shipped=cub",
    )
    labels = _lines(output, "class_labels.txt")
    assert len(labels) == 200
    for line in labels:
        image_id, label = line.split(",")
        assert folders[image_id.split("/")[0]] == int(label)
    root = str(tmp_path / "meta" / "CUB")
    assert sorted(os.listdir(root)) == ["test", "train", "val"]
    assert len(read_metadata(root, "test").image_ids) == 5794
