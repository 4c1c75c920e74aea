"""Fixtures of the data tests: the hand-made tiny dataset and a writer of
small metadata splits."""

import os

import pytest

TINY = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "fixtures",
    "tiny_dataset",
)

GOOD_FILES = {
    "image_ids.txt": "x/a.jpg\nx/b.jpg\n",
    "class_labels.txt": "x/a.jpg,0\nx/b.jpg,1\n",
    "image_sizes.txt": "x/a.jpg,40,30\nx/b.jpg,20,10\n",
    "localization.txt": "x/a.jpg,1,2,39,29\nx/b.jpg,0,0,5,5\n",
}


@pytest.fixture
def tiny_root():
    return TINY


@pytest.fixture
def make_split(tmp_path):
    """make_split({file name: text or None}, split="test") -> metadata root.

    Starts from GOOD_FILES; a None value removes that file. Text is written
    byte for byte (CRLF kept).
    """

    def make(overrides=None, split="test"):
        root = tmp_path / "metadata"
        split_dir = root / split
        split_dir.mkdir(parents=True, exist_ok=True)
        files = dict(GOOD_FILES)
        files.update(overrides or {})
        for name, text in files.items():
            if text is not None:
                (split_dir / name).write_bytes(text.encode("utf-8"))
        return str(root)

    return make


@pytest.fixture
def write_dataset(tmp_path):
    """write_dataset({image id: (RGB uint8 array, label, [boxes])}) ->
    (data_root, metadata_root) of a one-split ("s") box dataset."""
    import cv2

    def write(images, split="s"):
        data = tmp_path / "data"
        split_dir = tmp_path / "metadata" / split
        split_dir.mkdir(parents=True, exist_ok=True)
        ids, labels, sizes, boxes = [], [], [], []
        for image_id, (array, label, image_boxes) in images.items():
            path = data / image_id
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), array[..., ::-1])
            ids.append(image_id)
            labels.append(f"{image_id},{label}")
            sizes.append(f"{image_id},{array.shape[1]},{array.shape[0]}")
            boxes += [
                f"{image_id},{','.join(map(str, b))}" for b in image_boxes
            ]
        for name, rows in (
            ("image_ids.txt", ids),
            ("class_labels.txt", labels),
            ("image_sizes.txt", sizes),
            ("localization.txt", boxes),
        ):
            (split_dir / name).write_text("\n".join(rows))
        return str(data), str(tmp_path / "metadata")

    return write
