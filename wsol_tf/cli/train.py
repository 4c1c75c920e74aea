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
--model_dir resumes an interrupted run from its last finished epoch; other
result-changing settings than the run's config.json records are refused
(--overwrite moves the old run aside and starts over).
Without --flagfile, flags/demo.flags (small images, short schedule) is read
first and the command line overrides it; a run with --flagfile starts from
the library defaults, which are the protocol's.
"""

import functools
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TF C++ start-up

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from wsol_tf.cli import config_flags  # noqa: E402
from wsol_tf.cli import flagfiles  # noqa: E402
from wsol_tf.cli.errors import run_tool  # noqa: E402

flags.adopt_module_key_flags(config_flags)

# The no-flag run (the preset under a command line without --flagfile).
DEMO_FLAGFILE = "flags/demo.flags"


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    flagfiles.quiet_logging()
    config = config_flags.config_from_flags()
    from wsol_tf import training
    from wsol_tf.training.preflight import preflight_checks

    data = config.data
    if data.dataset_name != "synthetic" and data.image_size != 224:
        print(
            f"Note: image_size={data.image_size}; the protocol uses 224 (the "
            "library default): without --flagfile, the demo preset's small "
            "images apply; pass a flags/<dataset>_<arch>_<method>.flags file."
        )
    config = training.resolve_experiment(config)
    # Weights, input size and every split's metadata (--verify_images:
    # every image) before anything is written.
    preflight_checks(config)
    # Errors (divergence, a locked model_dir, a full disk, bad input) end
    # as one "ERROR: ..." line through run_tool.
    training.run_training(config, verbose=1 if sys.stdout.isatty() else 2)


def run():
    """Console-script entry point (`wsol-train`)."""
    run_tool(
        main,
        flags_parser=functools.partial(
            flagfiles.parse_flags, preset=DEMO_FLAGFILE
        ),
    )
