r"""Train a WSOL model (ICL, ADL or CAM), then evaluate, visualize, export.

With no flags, trains ICL (ResNet50) on the embedded synthetic dataset
(generated on first use), evaluates the test split with the MaxBoxAccV2
protocol, writes CAM visualizations and a SavedModel, and prints the final
table, in under 10 minutes on 2 CPU cores:

    python tools/train.py

A paper configuration (flagfiles in flags/, see their header comments):

    python tools/train.py --flagfile=flags/cub_resnet50_icl.flags \
        --data_root=dataset/CUB --metadata_root=metadata/CUB \
        --weights=/path/to/resnet50_notop.weights.h5 \
        --model_dir=runs/cub_resnet50_icl

Flags given after a --flagfile override it. Rerunning with the same
--model_dir resumes an interrupted run from its last finished epoch. The
no-flag demo defaults (DEMO_DEFAULTS below) differ from the protocol;
every flags/*.flags file sets the protocol values explicitly.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TF C++ start-up

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from wsol_tf.cli import common_flags  # noqa: E402

flags.adopt_module_key_flags(common_flags)

# The no-flag run: small images and a short schedule so that the whole
# job (data generation, training, evaluation, visualization, export) fits
# in 10 minutes on 2 CPU cores. Library defaults stay protocol-faithful.
DEMO_DEFAULTS = {
    "model_dir": "runs/synthetic_resnet50_icl",
    "architecture": "resnet50",
    "method": "icl",
    "image_size": 64,
    "resize_size": 72,
    "eval_image_size": 64,
    "batch_size": 16,
    "eval_batch_size": 32,
    "epochs": 6,
    "lr_decay_epochs": 4,
    "precision": "auto",
}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    common_flags.quiet_logging()
    try:
        config = common_flags.config_from_flags()
    except ValueError as e:
        raise app.UsageError(str(e))
    from wsol_tf import training

    data = config.data
    if data.dataset_name != "synthetic" and data.image_size != 224:
        print(
            f"Note: image_size={data.image_size} is tools/train.py's demo "
            "default; the protocol uses 224: pass a flags/<dataset>_<arch>_"
            "<method>.flags file (they set every protocol value)."
        )
    try:
        config = training.resolve_experiment(config)
    except (ValueError, OSError) as e:
        sys.exit(f"ERROR: {e}")
    training.run_training(config, verbose=1 if sys.stdout.isatty() else 2)


if __name__ == "__main__":
    common_flags.set_defaults(DEMO_DEFAULTS)
    app.run(main, flags_parser=common_flags.parse_flags)
