r"""Evaluate a trained model on one split with the wsolevaluation protocol.

    python tools/evaluate.py --model_path=runs/synthetic_resnet50_icl
    python tools/evaluate.py --model_path=runs/cub_resnet50_icl \
        --split=val --checkpoint=best --output=/tmp/val_metrics.json
    python tools/evaluate.py --model_path=model.keras \
        --flagfile=flags/cub_resnet50_icl.flags --data_root=dataset/CUB

--model_path is a training model_dir (its config.json gives the dataset and
the protocol) or a .keras file (config.json is looked up beside it and one
directory up; without one, the data and eval flags describe the dataset).
Flags given explicitly override config.json, e.g. --cam_curve_interval=0.01
for the standalone wsolevaluation setting. Prints a table and writes a JSON
file with the metrics and the protocol settings they were computed with
(default: <model_dir>/eval_<split>.json, or beside the .keras file).
"""

import os
import sys

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
OUTPUT = flagfiles.define_once(
    flags.DEFINE_string,
    "output",
    None,
    "JSON output path (default: see the module docstring).",
)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    flagfiles.quiet_logging()
    from wsol_tf import training
    from wsol_tf.data import name_undecodable_images
    from wsol_tf.errors import WriteError
    from wsol_tf.evaluation.runner import evaluate_model
    from wsol_tf.evaluation.runner import progress_bar
    from wsol_tf.io_utils import write_json

    model, config, keras_path, run_dir, split, dataset = (
        trained.load_trained_split(
            MODEL_PATH.value, CHECKPOINT.value, SPLIT.value
        )
    )
    with name_undecodable_images(config.data, [split]):
        metrics = evaluate_model(
            model, dataset, config.eval, progress=progress_bar(dataset)
        )
    output = OUTPUT.value
    if not output:
        output = os.path.join(run_dir, f"eval_{split}.json")
    report = {
        "model": os.path.abspath(keras_path),
        "metrics": metrics,
        "protocol": training.protocol_settings(config.data, config.eval, split),
    }
    # The table first: a failed write (read-only or full disk) loses nothing.
    title = f"{config.data.dataset_name} {split} split: {keras_path}"
    print(training.format_metrics_table(metrics, title), flush=True)
    try:
        write_json(output, report)
    except (WriteError, OSError) as e:
        print(f"WARNING: metrics not saved: {e}", file=sys.stderr)
        return
    print(f"Wrote {output}")


def run():
    """Console-script entry point (`wsol-evaluate`)."""
    flags.mark_flag_as_required("model_path")
    run_tool(main)
