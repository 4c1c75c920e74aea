r"""Draw CAM overlays with boxes and the BoxAcc-vs-threshold curve.

    python tools/visualize.py --model_path=runs/synthetic_resnet50_icl
    python tools/visualize.py --model_path=runs/cub_resnet50_icl \
        --split=test --num_images=16 --columns=4 --output_dir=/tmp/vis

Writes <output_dir>/cams_<split>.png (a grid: JET CAM overlays of the
ground-truth class, ground-truth boxes in red, the predicted box of the
largest contour at the chosen threshold in green, as in the papers'
figures) and <output_dir>/boxacc_curve_<split>.png (BoxAcc against the CAM
threshold over the whole split, one line per IoU threshold). Default
output_dir: <model_dir>/visualizations. Default threshold: the one that
maximises BoxAcc at IoU 50 on the split (--cam_threshold to fix it).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TF C++ start-up

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from wsol_tf.cli import config_flags  # noqa: E402
from wsol_tf.cli import flagfiles  # noqa: E402
from wsol_tf.cli import trained  # noqa: E402
from wsol_tf.cli.errors import run_tool  # noqa: E402

flags.adopt_module_key_flags(config_flags)

MODEL_PATH, CHECKPOINT = trained.define_model_flags()
SPLIT = trained.define_split_flag()
CAM_THRESHOLD = trained.define_cam_threshold_flag()
OUTPUT_DIR = flagfiles.define_once(
    flags.DEFINE_string,
    "output_dir",
    None,
    "Directory for the PNGs (default: see docstring).",
)
NUM_IMAGES = flagfiles.define_once(
    flags.DEFINE_integer, "num_images", 16, "Images in the grid.", lower_bound=1
)
COLUMNS = flagfiles.define_once(
    flags.DEFINE_integer, "columns", 4, "Grid columns.", lower_bound=1
)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    flagfiles.quiet_logging()
    from wsol_tf import visualization
    from wsol_tf.data import split_labels

    model, config, keras_path, run_dir, split, dataset = (
        trained.load_trained_split(
            MODEL_PATH.value, CHECKPOINT.value, SPLIT.value
        )
    )
    output_dir = OUTPUT_DIR.value or os.path.join(run_dir, "visualizations")
    result = visualization.visualize_split(
        model,
        dataset,
        output_dir,
        normalization=config.data.normalization,
        eval_config=config.eval,
        num_images=NUM_IMAGES.value,
        columns=COLUMNS.value,
        threshold=CAM_THRESHOLD.value,
        suffix=split,
        labels=split_labels(config.data, split),
    )
    print(f"Wrote {result['grid']} and {result['curve']}")


def run():
    """Console-script entry point (`wsol-visualize`)."""
    flags.mark_flag_as_required("model_path")
    run_tool(main)
