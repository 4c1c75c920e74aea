"""Validates a wsolevaluation-format dataset and lists every problem.

    python tools/check_dataset.py --metadata_root=metadata/CUB \
        --data_root=dataset/CUB --splits=train,val,test

Checks the metadata files of each split (field counts, integers, boxes
inside the image, image ids present in every file, duplicate ids, empty
splits), the class labels with exactly the rule training applies
(`wsol_tf.data.check_class_labels`: the class count is `max train label +
1`, the train labels cover 0..K-1, every split's labels are below K; with
--num_classes, labels below it) and, unless --nocheck_images, that every
image and mask file exists, decodes as the pipeline decodes it, and has the
size given in image_sizes.txt. Prints one `file:line: message` per problem
and exits with status 1 when there is any.
"""

import os
import sys

from absl import flags

from wsol_tf.cli import flagfiles
from wsol_tf.cli.errors import run_tool
from wsol_tf.data import check_class_labels
from wsol_tf.data import validate_dataset

_METADATA_ROOT = flagfiles.define_once(
    flags.DEFINE_string,
    "metadata_root",
    None,
    "Directory holding one sub-directory per split.",
)
_DATA_ROOT = flagfiles.define_once(
    flags.DEFINE_string,
    "data_root",
    None,
    "Directory the image ids are relative to.",
)
_SPLITS = flagfiles.define_once(
    flags.DEFINE_list, "splits", ["train", "val", "test"], "Splits."
)
_TRAIN_SPLIT = flagfiles.define_once(
    flags.DEFINE_string,
    "train_split",
    "train",
    "Split the class count is inferred from (as training's --train_split).",
)
_NUM_CLASSES = flagfiles.define_once(
    flags.DEFINE_integer,
    "num_classes",
    None,
    "If set, labels must lie in [0, num_classes); unset: max train label "
    "+ 1, and the train labels must cover every class (as training).",
    lower_bound=1,
)
_CHECK_IMAGES = flagfiles.define_once(
    flags.DEFINE_bool, "check_images", True, "Decode every image and mask file."
)


def main(argv):
    del argv
    total = 0
    num_classes, label_problems = check_class_labels(
        _METADATA_ROOT.value,
        _SPLITS.value,
        _TRAIN_SPLIT.value,
        _NUM_CLASSES.value,
    )
    train_dir = os.path.join(_METADATA_ROOT.value, _TRAIN_SPLIT.value)
    if num_classes is None and not os.path.isdir(train_dir):
        print(
            f"Note: no {train_dir}: label ranges checked without a class "
            "count (pass --num_classes or include the train split)."
        )
        if _TRAIN_SPLIT.value not in _SPLITS.value:
            del label_problems[_TRAIN_SPLIT.value]
    for split in label_problems:
        problems = label_problems[split]
        if split in _SPLITS.value:
            problems = problems + validate_dataset(
                _METADATA_ROOT.value,
                split,
                _DATA_ROOT.value,
                check_images=_CHECK_IMAGES.value,
                num_classes=num_classes,
            )
        # Both report a malformed or out-of-range label line: once here.
        problems = list(dict.fromkeys(problems))
        for problem in problems:
            print(problem)
        print(f"[{split}] {len(problems)} problem(s)")
        total += len(problems)
    print(f"{total} problem(s) in total" if total else "OK: no problems")
    sys.exit(1 if total else 0)


def run():
    """Console-script entry point (`wsol-check-dataset`)."""
    flags.mark_flags_as_required(["metadata_root", "data_root"])
    run_tool(main)
