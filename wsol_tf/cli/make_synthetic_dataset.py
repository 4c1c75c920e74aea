"""Writes the embedded synthetic WSOL dataset (see wsol_tf/data/synthetic.py).

    python tools/make_synthetic_dataset.py --output_dir=/tmp/synthetic
    python tools/make_synthetic_dataset.py --style=heads --output_dir=/tmp/h

Then train / evaluate with --data_root=/tmp/synthetic (dataset "synthetic"
finds metadata/SYNTHETIC and metadata/SYNTHETIC_PXAP under it). Equal flags
give byte-identical files; the default size takes a few seconds.
"""

import keras
from absl import flags

from wsol_tf.cli import flagfiles
from wsol_tf.cli.errors import run_tool
from wsol_tf.config import DataConfig
from wsol_tf.data import generate_synthetic_dataset
from wsol_tf.data import synthetic_birds
from wsol_tf.data import synthetic_render
from wsol_tf.data.synthetic import STYLES

_OUTPUT_DIR = flagfiles.define_once(
    flags.DEFINE_string, "output_dir", None, "Output directory."
)
_STYLE = flagfiles.define_once(
    flags.DEFINE_enum,
    "style",
    STYLES[0],
    STYLES,
    "birds: graded class evidence (dataset_name synthetic); heads: the "
    "first set, only the head is evidence (dataset_name synthetic_heads).",
)
# Defaults: the run settings' synthetic_* (what tools/train.py generates).
_D = DataConfig()
_NUM_CLASSES = flagfiles.define_once(
    flags.DEFINE_integer,
    "num_classes",
    _D.synthetic_num_classes,
    "Classes (birds 1-24, heads 1-96).",
)
_TRAIN = flagfiles.define_once(
    flags.DEFINE_integer,
    "train_per_class",
    _D.synthetic_train_per_class,
    "Train images/class.",
)
_VAL = flagfiles.define_once(
    flags.DEFINE_integer,
    "val_per_class",
    _D.synthetic_val_per_class,
    "Val images/class.",
)
_TEST = flagfiles.define_once(
    flags.DEFINE_integer,
    "test_per_class",
    _D.synthetic_test_per_class,
    "Test images/class.",
)
_IMAGE_SIZE = flagfiles.define_once(
    flags.DEFINE_integer,
    "image_size",
    _D.synthetic_image_size,
    "Nominal image side.",
)
_SEED = flagfiles.define_once(
    flags.DEFINE_integer, "seed", _D.synthetic_seed, "Generator seed."
)
_HEAD_SCALE = flagfiles.define_once(
    flags.DEFINE_float,
    "head_scale",
    _D.synthetic_head_scale,
    "x the head (part) area (birds <= 2, heads <= 3).",
)
_BODY_RATE = flagfiles.define_once(
    flags.DEFINE_float,
    "body_rate",
    None,
    "birds: P(body / wings / tail show the class's plumage); default "
    f"{synthetic_birds.BODY_RATE}.",
)
_CONTEXT_RATE = flagfiles.define_once(
    flags.DEFINE_float,
    "context_rate",
    None,
    "birds: P(ground band is the class's context kind); default "
    f"{synthetic_birds.CONTEXT_RATE}.",
)
_DISTRACTORS = flagfiles.define_once(
    flags.DEFINE_float,
    "distractor_heads",
    None,
    "heads: P(a head of another class in the background); default "
    f"{synthetic_render.DISTRACTOR_HEAD_PROBABILITY}.",
)
_OVERWRITE = flagfiles.define_once(
    flags.DEFINE_bool, "overwrite", False, "Replace output_dir."
)


def _generate():
    per_class = _TRAIN.value + _VAL.value + _TEST.value
    bar = keras.utils.Progbar(_NUM_CLASSES.value * per_class, unit_name="image")
    return generate_synthetic_dataset(
        _OUTPUT_DIR.value,
        style=_STYLE.value,
        num_classes=_NUM_CLASSES.value,
        train_per_class=_TRAIN.value,
        val_per_class=_VAL.value,
        test_per_class=_TEST.value,
        image_size=_IMAGE_SIZE.value,
        seed=_SEED.value,
        head_scale=_HEAD_SCALE.value,
        body_rate=_BODY_RATE.value,
        context_rate=_CONTEXT_RATE.value,
        distractor_heads=_DISTRACTORS.value,
        overwrite=_OVERWRITE.value,
        progress=lambda: bar.add(1),
    )


def main(argv):
    del argv
    root = _generate()
    name = "synthetic" if _STYLE.value == "birds" else "synthetic_heads"
    print(f"Wrote the synthetic dataset to {root}")
    print(f"  --dataset_name={name} --data_root={root}")
    print(
        f"  boxes: {root}/metadata/SYNTHETIC, masks: "
        f"{root}/metadata/SYNTHETIC_PXAP"
    )


def run():
    """Console-script entry point (`wsol-make-synthetic-dataset`)."""
    flags.mark_flags_as_required(["output_dir"])
    run_tool(main)
