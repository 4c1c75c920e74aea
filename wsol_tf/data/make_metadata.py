"""wsolevaluation metadata for a folder of class folders.

`write_metadata(image_dir, output, data_root)` writes
`<output>/{image_ids,class_labels,image_sizes,localization}.txt` for a
folder laid out as ImageNet's train set (`<image_dir>/<class>/<image>`):
ids relative to `data_root`, labels from the sorted class folder names
(or from `classes`, so that ILSVRC's train labels match its val / test
files), sizes read from the images, and an empty localization file (the
images carry class labels only).
"""

import os

from wsol_tf.io_utils import atomic_path

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def _image_size(path):
    import cv2

    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"{path}: not a readable image.")
    return int(image.shape[1]), int(image.shape[0])


def write_metadata(image_dir, output, data_root, classes=None):
    """Writes the four metadata files of `image_dir`'s class folders.

    Args:
        image_dir: folder of class folders of images.
        output: the split's metadata directory (written atomically).
        data_root: the directory image ids are relative to (an ancestor
            of `image_dir`).
        classes: class folder names in label order (default: the sorted
            folder names). Every folder must be listed.

    Returns:
        The number of images written.

    Raises:
        ValueError: a class folder missing from `classes`, a listed class
            without a folder, or an unreadable image (one line each).
    """
    folders = sorted(
        name
        for name in os.listdir(image_dir)
        if os.path.isdir(os.path.join(image_dir, name))
    )
    if classes is None:
        classes = folders
    labels = {name: index for index, name in enumerate(classes)}
    unknown = [name for name in folders if name not in labels]
    if unknown:
        raise ValueError(
            f"{os.path.join(image_dir, unknown[0])}: a class folder not in "
            f"the class list ({len(classes)} classes)."
        )
    missing = [name for name in classes if name not in folders]
    if missing:
        raise ValueError(
            f"{os.path.join(image_dir, missing[0])}: expected a folder for "
            f"class {labels[missing[0]]} ({len(missing)} missing)."
        )
    ids, class_lines, size_lines = [], [], []
    for name in classes:
        folder = os.path.join(image_dir, name)
        for file_name in sorted(os.listdir(folder)):
            if not file_name.lower().endswith(IMAGE_EXTENSIONS):
                continue
            path = os.path.join(folder, file_name)
            image_id = os.path.relpath(path, data_root).replace(os.sep, "/")
            width, height = _image_size(path)
            ids.append(image_id)
            class_lines.append(f"{image_id},{labels[name]}")
            size_lines.append(f"{image_id},{width},{height}")
    with atomic_path(output) as tmp:
        os.makedirs(tmp)
        for file_name, lines in (
            ("image_ids.txt", ids),
            ("class_labels.txt", class_lines),
            ("image_sizes.txt", size_lines),
            ("localization.txt", []),
        ):
            with open(
                os.path.join(tmp, file_name),
                "w",
                encoding="utf-8",
                newline="\n",
            ) as f:
                f.write("\n".join(lines))
    return len(ids)
