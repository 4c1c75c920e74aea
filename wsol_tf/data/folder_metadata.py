"""wsolevaluation metadata for a folder of class folders.

A folder laid out as ImageNet's train set, or as Keras'
`image_dataset_from_directory` expects:

    <image_dir>/<class name>/[sub-folders/]<image>.{jpg,jpeg,png,gif,bmp}

becomes one metadata split (`write_split`): image ids relative to the data
root, class labels (the sorted class folder names, or a given class list),
image sizes read from the headers (`image_headers.image_size`, in parallel)
and an empty localization file.

Example:

>>> scan = scan_class_folders("dataset/ILSVRC/train", "dataset/ILSVRC")
>>> scan.images[0]
('train/n01440764/n01440764_10026.JPEG', 0)
>>> sizes, problems = read_image_sizes(scan, workers=16)
>>> write_split("metadata/ILSVRC/train", scan, sizes)
"""

import concurrent.futures
import dataclasses
import os
from typing import Dict
from typing import List
from typing import Tuple

from wsol_tf.data.image_headers import image_size
from wsol_tf.data.metadata_parser import CLASS_LABELS
from wsol_tf.data.metadata_parser import FORMATS
from wsol_tf.data.metadata_parser import IMAGE_IDS
from wsol_tf.data.metadata_parser import IMAGE_SIZES
from wsol_tf.data.metadata_parser import LOCALIZATION
from wsol_tf.data.metadata_parser import MetadataError
from wsol_tf.data.metadata_parser import Problems
from wsol_tf.data.metadata_parser import read_rows
from wsol_tf.data.metadata_parser import to_ints
from wsol_tf.io_utils import atomic_path

# The file endings Keras' image_dataset_from_directory lists (any case).
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
# Reader threads: each waits on the disk most of the time, so more threads
# than cores overlap the reads (20,000 JPEGs, 2 cores, headers not cached:
# 1 thread 1,391 files/s, 6 threads 2,946, 32 threads 6,125).
DEFAULT_WORKERS = 32


@dataclasses.dataclass
class FolderScan:
    """The images of a folder of class folders, in id order.

    Attributes:
        data_root: the directory the ids are relative to.
        images: `(image id, label)` per image file, sorted by class folder
            name, then by path.
        classes: class folder name -> label (the folders found that have a
            label; empty folders are not in it).
        empty_folders: class folders without an image file (no label taken
            from the sorted names; their label stays free in a class list).
        other_files: files that are not images by their ending, skipped.
    """

    data_root: str
    images: List[Tuple[str, int]]
    classes: Dict[str, int]
    empty_folders: List[str]
    other_files: List[str]


def _image_files(folder):
    """(sorted image paths, other paths) below `folder`."""
    images, others = [], []
    for parent, dirs, files in os.walk(folder, followlinks=True):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(parent, name)
            if name.lower().endswith(IMAGE_EXTENSIONS):
                images.append(path)
            else:
                others.append(path)
    return sorted(images), others


def read_class_list(path):
    """Class folder name -> label, from a file of one of two kinds:

    - class names, one a line: the label is the line's index (0, 1, ...);
    - a wsolevaluation `class_labels.txt` (`<image_id>,<label>` lines): each
      id's class folder (the name of its parent folder) takes its label,
      e.g. an ILSVRC train class_labels.txt or a split of a dataset laid
      out in class folders.

    Raises:
        MetadataError (a ValueError): naming `file:line` of a malformed
            line, a duplicate name or a folder given two labels.
    """
    problems = Problems()
    rows = read_rows(path, problems, "class names, one a line")
    if rows is None:
        raise MetadataError(problems)
    classes, where = {}, {}
    labelled = bool(rows) and all(len(fields) == 2 for _, fields in rows)
    for index, (number, fields) in enumerate(rows):
        if labelled:
            values = to_ints(
                fields[1:], path, number, problems, FORMATS[CLASS_LABELS]
            )
            if values is None:
                continue
            name = os.path.basename(os.path.dirname(fields[0]))
            label = values[0]
        elif len(fields) != 1:
            problems.add(
                path,
                number,
                f"expected one class name a line (or {FORMATS[CLASS_LABELS]} "
                f"lines on every line), got {len(fields)} fields",
            )
            continue
        else:
            name, label = fields[0], index
        if not name:
            problems.add(path, number, "no class folder name")
        elif name not in classes:
            classes[name], where[name] = label, number
        elif not labelled or classes[name] != label:
            problems.add(
                path,
                number,
                f"class {name!r} again, with label {label} (line "
                f"{where[name]}: {classes[name]})",
            )
    if problems:
        raise MetadataError(problems, f"classes_from={os.fspath(path)!r}")
    return classes


def scan_class_folders(image_dir, data_root=None, classes=None):
    """Lists the images of `image_dir`'s class folders.

    Args:
        image_dir: a folder holding one folder per class (files directly in
            it are not images of a class and are listed as other files).
        data_root: the directory the ids are relative to: `image_dir` or a
            folder above it (None: `image_dir`'s parent, so that ILSVRC's
            `dataset/ILSVRC/train` gives ids `train/<wnid>/<file>`, as its
            val and test ids are `val/<file>`).
        classes: class folder name -> label (`read_class_list`); None: the
            sorted names of the class folders that hold images, labelled
            0, 1, ... (as `image_dataset_from_directory` names classes, but
            an empty folder takes no label, so labels have no gap).

    Raises:
        ValueError: `image_dir` is not a directory, is not inside
            `data_root`, has no class folder or no image, or a class folder
            is not in `classes`.
    """
    image_dir = os.path.abspath(os.fspath(image_dir))
    if not os.path.isdir(image_dir):
        raise ValueError(
            f"Expected image_dir to be a directory of class folders. "
            f"Received: image_dir={image_dir!r}"
        )
    if data_root is None:
        data_root = os.path.dirname(image_dir)
    data_root = os.path.abspath(os.fspath(data_root))
    if os.path.commonpath([image_dir, data_root]) != data_root:
        raise ValueError(
            f"Expected data_root to be image_dir or a folder above it (ids "
            f"are relative to it). Received: data_root={data_root!r}, "
            f"image_dir={image_dir!r}"
        )
    entries = sorted(os.scandir(image_dir), key=lambda e: e.name)
    folders = [e.name for e in entries if e.is_dir()]
    other_files = [e.path for e in entries if not e.is_dir()]
    if not folders:
        raise ValueError(
            f"Expected one folder per class in image_dir; it has none. "
            f"Received: image_dir={image_dir!r}"
        )
    found, empty_folders, unknown = {}, [], []
    images = []
    for name in folders:
        paths, others = _image_files(os.path.join(image_dir, name))
        other_files.extend(others)
        if not paths:
            empty_folders.append(os.path.join(image_dir, name))
            continue
        if classes is None:
            found[name] = len(found)
        elif name in classes:
            found[name] = classes[name]
        else:
            unknown.append(name)
            continue
        for path in paths:
            image_id = os.path.relpath(path, data_root).replace(os.sep, "/")
            images.append((image_id, found[name]))
    if unknown:
        shown = ", ".join(repr(n) for n in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise ValueError(
            f"Expected every class folder of image_dir that holds images in "
            f"the class list; not in it: {shown}{more}. Received: "
            f"image_dir={image_dir!r}"
        )
    if not images:
        raise ValueError(
            f"Expected image files ({', '.join(IMAGE_EXTENSIONS)}) in the "
            f"class folders of image_dir; found none. Received: "
            f"image_dir={image_dir!r}"
        )
    return FolderScan(data_root, images, found, empty_folders, other_files)


def _size_or_reason(path):
    try:
        return image_size(path), None
    except (OSError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else e
        return None, str(reason)


def read_image_sizes(scan, workers=None, progress=None):
    """Reads every image's `(width, height)` from its header, in parallel.

    Args:
        scan: a `FolderScan`.
        workers: reader threads (None: `DEFAULT_WORKERS`).
        progress: None, or a callable taking the number of files done so
            far (e.g. a `keras.utils.Progbar`'s `update`), called about
            every 500 files and at the end.

    Returns:
        `(sizes, problems)`: sizes maps image id -> `(W, H)`; problems is
        a list of `"path: reason"` for each file whose header gives no size
        (not an image, truncated, unreadable).
    """
    paths = [os.path.join(scan.data_root, i) for i, _ in scan.images]
    sizes, problems = {}, []
    with concurrent.futures.ThreadPoolExecutor(
        workers or DEFAULT_WORKERS
    ) as pool:
        results = pool.map(_size_or_reason, paths)
        for done, ((image_id, _), path, (size, reason)) in enumerate(
            zip(scan.images, paths, results), start=1
        ):
            if reason is None:
                sizes[image_id] = size
            else:
                problems.append(f"{path}: {reason}")
            if progress is not None and (done % 500 == 0 or done == len(paths)):
                progress(done)
    return sizes, problems


def write_split(output, scan, sizes):
    """Writes the four metadata files of one split into `output`.

    `image_ids.txt`, `class_labels.txt` and `image_sizes.txt` list the
    images of `scan` that have a size in `sizes`, in scan order;
    `localization.txt` is empty (a train split: no boxes). The folder is
    written next to `output` and renamed onto it: a reader sees the old
    folder or the complete new one.
    """
    rows = [(i, label) for i, label in scan.images if i in sizes]
    texts = {
        IMAGE_IDS: "".join(f"{i}\n" for i, _ in rows),
        CLASS_LABELS: "".join(f"{i},{label}\n" for i, label in rows),
        IMAGE_SIZES: "".join(
            f"{i},{sizes[i][0]},{sizes[i][1]}\n" for i, _ in rows
        ),
        LOCALIZATION: "",
    }
    with atomic_path(output) as tmp:
        os.makedirs(tmp)
        for name, text in texts.items():
            with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
                f.write(text)
    return len(rows)


def copy_shipped_splits(dataset, output):
    """Copies the package's metadata splits of `dataset` (e.g. ILSVRC's val
    and test) beside the split folder `output`, each atomically; returns
    their names."""
    import shutil

    from wsol_tf.data.resolve import shipped_metadata_root

    source = shipped_metadata_root(dataset)
    parent = os.path.dirname(os.path.abspath(output))
    copied = []
    for split in sorted(os.listdir(source)):
        folder = os.path.join(source, split)
        if split == os.path.basename(output) or not os.path.isdir(folder):
            continue
        with atomic_path(os.path.join(parent, split)) as tmp:
            shutil.copytree(folder, tmp)
        copied.append(split)
    return copied


def write_metadata(image_dir, output, data_root=None, classes=None):
    """Scans, reads the sizes and writes one split's metadata, or raises.

    Args:
        image_dir, data_root: as `scan_class_folders`.
        output: the split's metadata folder (written atomically).
        classes: class folder names in label order, or a name -> label
            dict (`read_class_list`); None: the sorted folder names.

    Returns:
        The number of images written.

    Raises:
        ValueError: as `scan_class_folders`, or one line per unreadable
            image (`path: reason`), nothing written.
    """
    if classes is not None and not isinstance(classes, dict):
        classes = {name: label for label, name in enumerate(classes)}
    scan = scan_class_folders(image_dir, data_root, classes)
    sizes, problems = read_image_sizes(scan)
    if problems:
        raise ValueError(
            f"{len(problems)} image files under {image_dir} give no size; "
            "nothing written: " + "; ".join(problems)
        )
    return write_split(output, scan, sizes)
