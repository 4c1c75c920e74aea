r"""Export a trained model (.keras) as a TensorFlow SavedModel for serving.

    python tools/export.py --model_path=runs/synthetic_resnet50_icl
    python tools/export.py --model_path=model.keras --export_dir=/tmp/wsol \
        --export_image_size=224 --cam_threshold=0.25

The SavedModel loads without wsol_tf (or Keras):

    import tensorflow as tf
    loaded = tf.saved_model.load("runs/synthetic_resnet50_icl/saved_model")
    out = loaded.serve(images)  # float32 [B, S, S, 3], normalised as training
    out["logits"], out["class_ids"], out["scores"], out["cams"], out["boxes"]
    out = loaded.localize(images, tf.constant(0.3))  # another CAM threshold

S defaults to the run's eval_image_size; the `serve` box uses
--cam_threshold (default: the one training recorded in metrics_test.json,
i.e. the best threshold at IoU 50 on the val split, else 0.5).
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TF C++ start-up

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from wsol_tf.cli import config_flags  # noqa: E402
from wsol_tf.cli import flagfiles  # noqa: E402
from wsol_tf.cli import trained  # noqa: E402
from wsol_tf.cli.errors import run_tool  # noqa: E402
from wsol_tf.evaluation import FALLBACK_CAM_THRESHOLD  # noqa: E402

flags.adopt_module_key_flags(config_flags)

MODEL_PATH, CHECKPOINT = trained.define_model_flags()
CAM_THRESHOLD = trained.define_cam_threshold_flag()
EXPORT_DIR = flagfiles.define_once(
    flags.DEFINE_string,
    "export_dir",
    None,
    "Output directory (default: <model_dir>/saved_model).",
)
EXPORT_IMAGE_SIZE = flagfiles.define_once(
    flags.DEFINE_integer,
    "export_image_size",
    None,
    "Input side S (default: eval_image_size).",
    lower_bound=1,
)


def _recorded_threshold(run_dir):
    path = os.path.join(run_dir, "metrics_test.json")
    if os.path.isfile(path):
        with open(path) as f:
            report = json.load(f)
        value = report.get("cam_threshold", {}).get("value")
        if value is not None:
            return float(value)
    return FALLBACK_CAM_THRESHOLD


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    flagfiles.quiet_logging()
    from wsol_tf.export import export_saved_model

    model, config, keras_path = trained.load_trained(
        MODEL_PATH.value, CHECKPOINT.value
    )
    run_dir = trained.run_dir_of(keras_path)
    export_dir = EXPORT_DIR.value or os.path.join(run_dir, "saved_model")
    size = EXPORT_IMAGE_SIZE.value or config.data.eval_image_size
    threshold = CAM_THRESHOLD.value
    if threshold is None:
        threshold = _recorded_threshold(run_dir)
    export_saved_model(
        model,
        export_dir,
        image_size=size,
        threshold=threshold,
        normalization=config.data.resolved_normalization(),
    )
    print(
        f"Exported {keras_path} -> {export_dir} (serve: float32 [None, "
        f"{size}, {size}, 3]; serve_images: uint8 RGB of any size; serve "
        f"threshold {threshold})"
    )


def run():
    """Console-script entry point (`wsol-export`)."""
    flags.mark_flag_as_required("model_path")
    run_tool(main)
