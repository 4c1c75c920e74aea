"""Files of a synthetic dataset: images, masks, part maps, metadata."""

import os

import cv2
import numpy as np

BOXES_DIR = os.path.join("metadata", "SYNTHETIC")
MASKS_DIR = os.path.join("metadata", "SYNTHETIC_PXAP")
_JPEG_QUALITY = 90


def write_text(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines))  # no final newline, as wsolevaluation


def _write_image(path, array, ext):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY] if ext == ".jpg" else []
    ok, data = cv2.imencode(ext, array, params)
    if not ok:
        raise OSError(f"Could not encode {path}")
    with open(path, "wb") as f:
        f.write(data.tobytes())


def read_part_masks(data_root, image_id):
    """The part label map of a "birds" val / test image, or None.

    Args:
        data_root: the dataset's root.
        image_id: e.g. "images/test/001/test_00012.jpg".

    Returns:
        uint8 [H, W] with values indexing `PART_NAMES` (0 background,
        1 head, 2 body, 3 wings, 4 tail; union of the image's objects), or
        None where the image has no part PNG (train split, "heads" style).
    """
    stem = os.path.splitext(image_id)[0]
    if not stem.startswith("images/"):
        raise ValueError(
            "Expected an image id under images/. "
            f"Received: image_id={image_id!r}"
        )
    path = os.path.join(data_root, "masks", stem[7:] + "_parts.png")
    if not os.path.isfile(path):
        return None
    return cv2.imread(path, cv2.IMREAD_GRAYSCALE)


def _write_masks(root, stem, ex):
    """Writes the val / test masks of one image; returns its mask lines."""
    image_id = f"images/{stem}.jpg"
    ignore = f"masks/{stem}_ignore.png"
    _write_image(
        os.path.join(root, ignore),
        ex.ignore_mask.astype(np.uint8) * 255,
        ".png",
    )
    lines = []
    for k, instance in enumerate(ex.instance_masks):
        mask = f"masks/{stem}_m{k}.png"
        _write_image(
            os.path.join(root, mask), instance.astype(np.uint8) * 255, ".png"
        )
        lines.append(f"{image_id},{mask},{ignore if k == 0 else ''}")
    if hasattr(ex, "part_labels"):
        _write_image(
            os.path.join(root, f"masks/{stem}_parts.png"),
            ex.part_labels.max(axis=0),
            ".png",
        )
    return lines


def write_split(
    root, split, per_class, seed, render, render_options, progress=None
):
    """Writes one split; `render_options`: keyword args of `render`.

    `progress`: optional callable, called with no argument after each
    image is written.
    """
    num_classes = render_options["num_classes"]
    ids, labels, sizes, boxes, masks = [], [], [], [], []
    index = 0
    for class_id in range(num_classes):
        for _ in range(per_class):
            stem = f"{split}/{class_id:03d}/{split}_{index:05d}"
            image_id = f"images/{stem}.jpg"
            ex = render(seed, split, index, class_id, **render_options)
            height, width = ex.image.shape[:2]
            _write_image(
                os.path.join(root, image_id), ex.image[..., ::-1], ".jpg"
            )
            ids.append(image_id)
            labels.append(f"{image_id},{class_id}")
            sizes.append(f"{image_id},{width},{height}")
            boxes.extend(
                f"{image_id},{x0},{y0},{x1},{y1}" for x0, y0, x1, y1 in ex.boxes
            )
            if split != "train":
                masks.extend(_write_masks(root, stem, ex))
            index += 1
            if progress is not None:
                progress()
    for meta_dir, localization in ((BOXES_DIR, boxes), (MASKS_DIR, masks)):
        split_dir = os.path.join(root, meta_dir, split)
        write_text(os.path.join(split_dir, "image_ids.txt"), ids)
        write_text(os.path.join(split_dir, "class_labels.txt"), labels)
        write_text(os.path.join(split_dir, "image_sizes.txt"), sizes)
        if localization:  # no masks for train: as OpenImages train
            path = os.path.join(split_dir, "localization.txt")
            write_text(path, localization)
