r"""Write wsolevaluation metadata for a folder of class folders.

    python tools/make_metadata.py --image_dir=dataset/ILSVRC/train \
        --output=metadata/ILSVRC/train --copy_shipped=ilsvrc

writes `<output>/{image_ids,class_labels,image_sizes,localization}.txt` for
a folder laid out as ImageNet's train set or as Keras'
`image_dataset_from_directory` expects (`<image_dir>/<class>/<images>`):

- ids relative to `--data_root` (default: image_dir's parent, which gives
  ILSVRC's `train/<wnid>/<file>` ids);
- labels from the sorted class folder names (ILSVRC's 1,000 wnids sorted
  are the labels of its val and test metadata), or from `--classes_from`;
- sizes read from the image headers in parallel threads, without decoding
  the pixels, with a progress bar;
- an empty localization.txt.

A file whose header gives no size is named as `path: reason`; the tool then
writes nothing and exits with status 1, unless `--skip_unreadable`, which
writes the metadata without those files. `--copy_shipped=ilsvrc` copies the
package's ILSVRC val and test metadata beside the output, so that the
output's parent is a complete `--metadata_root`.
"""

import os
import sys
import time

from absl import flags

from wsol_tf.cli import config_flags  # noqa: F401 (defines --data_root)
from wsol_tf.cli import flagfiles

IMAGE_DIR = flagfiles.define_once(
    flags.DEFINE_string,
    "image_dir",
    None,
    "Folder holding one folder of images per class.",
)
OUTPUT = flagfiles.define_once(
    flags.DEFINE_string,
    "output",
    None,
    "Split folder to write, e.g. metadata/MYDATA/train (replaced whole).",
)
# --data_root is the config flag (the run's data root, which the ids are
# relative to); '' here: image_dir's parent.
flags.declare_key_flag("data_root")
CLASSES_FROM = flagfiles.define_once(
    flags.DEFINE_string,
    "classes_from",
    "",
    "Class list: class folder names one a line (label = line index), or a "
    "class_labels.txt whose ids lie in class folders ('' -> the sorted "
    "folder names).",
)
SKIP_UNREADABLE = flagfiles.define_once(
    flags.DEFINE_bool,
    "skip_unreadable",
    False,
    "Write the metadata without the files whose header gives no size "
    "(default: name them and write nothing).",
)
WORKERS = flagfiles.define_once(
    flags.DEFINE_integer,
    "workers",
    0,
    "Reader threads (0 -> folder_metadata.DEFAULT_WORKERS, 32).",
    lower_bound=0,
)
COPY_SHIPPED = flagfiles.define_once(
    flags.DEFINE_enum,
    "copy_shipped",
    "",
    ["", "cub", "ilsvrc", "openimages"],
    "Also copy this dataset's shipped metadata splits (other than the "
    "output's) beside the output.",
)


def _say(lines, stream=None):
    stream = stream or sys.stdout
    for line in lines:
        stream.write(f"{line}\n")
    stream.flush()


def main(argv):
    del argv
    import keras

    from wsol_tf.cli.errors import FlagError
    from wsol_tf.data import folder_metadata
    from wsol_tf.data.metadata import resolve_num_classes

    for flag in (IMAGE_DIR, OUTPUT):
        if not flag.value:
            raise FlagError(
                f"--{flag.name}: expected a path. Received: {flag.value!r}"
            )
    output = os.path.abspath(OUTPUT.value)
    classes = None
    if CLASSES_FROM.value:
        classes = folder_metadata.read_class_list(CLASSES_FROM.value)
    start = time.perf_counter()
    scan = folder_metadata.scan_class_folders(
        IMAGE_DIR.value, flags.FLAGS.data_root or None, classes
    )
    listed = time.perf_counter() - start
    count = len(scan.images)
    _say(
        [
            f"{IMAGE_DIR.value}: {count} image files in {len(scan.classes)} "
            f"class folders (listed in {listed:.1f} s); ids relative to "
            f"{scan.data_root}"
        ]
        + [
            f"WARNING: {path}: no image files; the folder takes no label"
            for path in scan.empty_folders
        ]
        + [
            f"WARNING: {path}: not an image by its ending "
            f"({', '.join(folder_metadata.IMAGE_EXTENSIONS)}); skipped"
            for path in scan.other_files
        ]
    )
    bar = keras.utils.Progbar(
        count, unit_name="file", interval=0.05 if sys.stdout.isatty() else 30
    )
    start = time.perf_counter()
    sizes, problems = folder_metadata.read_image_sizes(
        scan, WORKERS.value or None, progress=bar.update
    )
    seconds = time.perf_counter() - start
    if problems and not SKIP_UNREADABLE.value:
        raise ValueError(
            f"{len(problems)} of the {count} image files under "
            f"{IMAGE_DIR.value} give no size; nothing written "
            f"(--skip_unreadable writes the metadata without them):\n  "
            + "\n  ".join(problems)
        )
    if problems:
        _say(
            [f"WARNING: skipped {len(problems)} unreadable image files:"]
            + [f"  {p}" for p in problems],
            sys.stderr,
        )
    written = folder_metadata.write_split(output, scan, sizes)
    copied = (
        folder_metadata.copy_shipped_splits(COPY_SHIPPED.value, output)
        if COPY_SHIPPED.value
        else []
    )
    parent, split = os.path.split(output)
    num_classes = resolve_num_classes(
        parent,
        [split, *copied],
        train_split=split,
        num_classes=None if classes is None else max(classes.values()) + 1,
    )
    _say(
        [
            f"Wrote {output}: {written} images, {num_classes} classes; "
            f"sizes read in {seconds:.1f} s ({count / seconds:.0f} files/s)"
        ]
    )
    if copied:
        _say([f"Copied the shipped {COPY_SHIPPED.value} {copied} beside it"])


def run():
    """Entry point of tools/make_metadata.py."""
    from wsol_tf.cli.errors import run_tool

    run_tool(main)
