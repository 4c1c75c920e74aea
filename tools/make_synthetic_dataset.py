"""Writes the embedded synthetic WSOL dataset (see wsol_tf/data/synthetic.py).

    python tools/make_synthetic_dataset.py --output_dir=/tmp/synthetic

Then train / evaluate with --data_root=/tmp/synthetic (dataset "synthetic"
finds metadata/SYNTHETIC and metadata/SYNTHETIC_PXAP under it). Equal flags
give byte-identical files; the default size takes a few seconds.
"""

from absl import app
from absl import flags

from wsol_tf.data import generate_synthetic_dataset
from wsol_tf.data.synthetic_render import DISTRACTOR_HEAD_PROBABILITY

_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Output directory.")
_NUM_CLASSES = flags.DEFINE_integer("num_classes", 4, "Classes (1-96).")
_TRAIN = flags.DEFINE_integer("train_per_class", 64, "Train images/class.")
_VAL = flags.DEFINE_integer("val_per_class", 8, "Val images/class.")
_TEST = flags.DEFINE_integer("test_per_class", 16, "Test images/class.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 128, "Nominal image side.")
_SEED = flags.DEFINE_integer("seed", 0, "Generator seed.")
_HEAD_SCALE = flags.DEFINE_float(
    "head_scale", 1.0, "x the head (part) area (0 < s <= 3)."
)
_DISTRACTORS = flags.DEFINE_float(
    "distractor_heads",
    DISTRACTOR_HEAD_PROBABILITY,
    "P(a head of another class in the background).",
)
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace output_dir.")


def main(argv):
    del argv
    root = generate_synthetic_dataset(
        _OUTPUT_DIR.value,
        num_classes=_NUM_CLASSES.value,
        train_per_class=_TRAIN.value,
        val_per_class=_VAL.value,
        test_per_class=_TEST.value,
        image_size=_IMAGE_SIZE.value,
        seed=_SEED.value,
        head_scale=_HEAD_SCALE.value,
        distractor_heads=_DISTRACTORS.value,
        overwrite=_OVERWRITE.value,
    )
    print(f"Wrote the synthetic dataset to {root}")
    print(f"  --data_root={root}")
    print(
        f"  boxes: {root}/metadata/SYNTHETIC, masks: "
        f"{root}/metadata/SYNTHETIC_PXAP"
    )


if __name__ == "__main__":
    flags.mark_flags_as_required(["output_dir"])
    app.run(main)
