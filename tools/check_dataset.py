"""Validates a wsolevaluation-format dataset and lists every problem.

    python tools/check_dataset.py --metadata_root=metadata/CUB \
        --data_root=dataset/CUB --splits=train,val,test

Checks the metadata files of each split (field counts, integers, labels in
range, boxes inside the image, image ids present in every file, duplicate
ids, empty splits) and, unless --nocheck_images, that every image and mask
file exists, decodes as the pipeline decodes it, and has the size given in
image_sizes.txt. Prints one `file:line: message` per problem and exits with
status 1 when there is any.
"""

import sys

from absl import app
from absl import flags

from wsol_tf.data import validate_dataset

_METADATA_ROOT = flags.DEFINE_string(
    "metadata_root", None, "Directory holding one sub-directory per split."
)
_DATA_ROOT = flags.DEFINE_string(
    "data_root", None, "Directory the image ids are relative to."
)
_SPLITS = flags.DEFINE_list("splits", ["train", "val", "test"], "Splits.")
_NUM_CLASSES = flags.DEFINE_integer(
    "num_classes", None, "If set, labels must lie in [0, num_classes)."
)
_CHECK_IMAGES = flags.DEFINE_bool(
    "check_images", True, "Decode every image and mask file."
)


def main(argv):
    del argv
    total = 0
    for split in _SPLITS.value:
        problems = validate_dataset(
            _METADATA_ROOT.value,
            split,
            _DATA_ROOT.value,
            check_images=_CHECK_IMAGES.value,
            num_classes=_NUM_CLASSES.value,
        )
        for problem in problems:
            print(problem)
        print(f"[{split}] {len(problems)} problem(s)")
        total += len(problems)
    print(f"{total} problem(s) in total" if total else "OK: no problems")
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    flags.mark_flags_as_required(["metadata_root", "data_root"])
    app.run(main)
