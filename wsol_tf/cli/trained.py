"""Loading a trained model for the tools that read one.

tools/evaluate.py, export.py and visualize.py define the flags they use
with `define_model_flags` / `define_split_flag` / `define_cam_threshold_flag`
(tools/train.py defines none of them), then call `load_trained` or
`load_trained_split`.
"""

import os
import sys

from absl import flags

from wsol_tf import config as config_lib
from wsol_tf.callbacks.checkpoint import load_checkpoint
from wsol_tf.cli.config_flags import config_from_flags
from wsol_tf.cli.flagfiles import define_once

FLAGS = flags.FLAGS


def define_model_flags():
    """Defines `--model_path` and `--checkpoint`; returns their holders."""
    model_path = define_once(
        flags.DEFINE_string,
        "model_path",
        None,
        "A training model_dir (its config.json and checkpoints/<checkpoint>"
        ".keras are used) or a .keras file.",
    )
    checkpoint = define_once(
        flags.DEFINE_enum,
        "checkpoint",
        "last",
        ["last", "best"],
        "Checkpoint of a model_dir.",
    )
    return model_path, checkpoint


def define_split_flag():
    """Defines `--split` (the split to evaluate / draw)."""
    return define_once(
        flags.DEFINE_string, "split", "test", "Split to evaluate / draw."
    )


def define_cam_threshold_flag():
    """Defines `--cam_threshold` (the drawn / served box)."""
    return define_once(
        flags.DEFINE_float,
        "cam_threshold",
        None,
        "CAM threshold of the drawn / served box (default: see the tool).",
        lower_bound=0.0,
        upper_bound=0.999,
    )


def _find_config(keras_path):
    d = os.path.dirname(os.path.abspath(keras_path))
    for candidate in (d, os.path.dirname(d)):
        path = os.path.join(candidate, "config.json")
        if os.path.isfile(path):
            return path
    return None


def load_trained(model_path, checkpoint="last", flag_values=None):
    """Loads a trained model and its configuration for the tools.

    Args:
        model_path: a training `model_dir` or a `.keras` file.
        checkpoint: "last" or "best" (for a `model_dir`).
        flag_values: parsed flags; explicit ones override config.json
            (e.g. `--cam_curve_interval=0.01`). Without a config.json next
            to a `.keras` file, every data / eval flag value is used.

    Returns:
        `(model, config, keras_path)`; the model computes in float32 (a
        checkpoint trained under a mixed policy is copied to float32).

    Raises:
        FileNotFoundError: naming the missing path.
        CorruptFileError: the file is not a readable `.keras` archive (with
            a hint to try the other checkpoint).
        DivergenceError: the model's weights hold NaN or infinite values.
    """
    if not model_path:
        raise ValueError("--model_path is required. Received: model_path=None")
    if os.path.isdir(model_path):
        keras_path = os.path.join(
            model_path, "checkpoints", f"{checkpoint}.keras"
        )
    else:
        keras_path = model_path
    if not os.path.isfile(keras_path):
        raise FileNotFoundError(
            f"No model file at {keras_path} (--model_path={model_path}): "
            "expected a .keras file or a training model_dir containing "
            f"checkpoints/{checkpoint}.keras."
        )
    if not keras_path.endswith(".keras"):
        raise ValueError(
            f"Expected a .keras file. Received: model_path={model_path}"
        )
    config_path = _find_config(keras_path)
    base = None
    if config_path:
        with open(config_path) as f:
            base = config_lib.ExperimentConfig.from_json(f.read())
    config = config_from_flags(flag_values, base=base)
    hint = (
        f"--checkpoint={'best' if checkpoint == 'last' else 'last'}"
        if os.path.isdir(model_path)
        else "--checkpoint=best (or last) with the run's model_dir"
    )
    return load_checkpoint(keras_path, hint), config, keras_path


def run_dir_of(keras_path):
    """The training model_dir of `.../checkpoints/x.keras`, else its folder."""
    run_dir = os.path.dirname(keras_path)
    if os.path.basename(run_dir) == "checkpoints":
        run_dir = os.path.dirname(run_dir)
    return run_dir


def load_trained_split(model_path, checkpoint, split):
    """Model, resolved config, run dir and eval dataset of a trained run.

    Shared by tools/evaluate.py and tools/visualize.py: loads the model of
    `model_path` / `checkpoint` (explicit flags override its config.json),
    resolves the dataset, checks its image sizes (`check_image_sizes`)
    and builds the eval pipeline of `split`. Exits with a one-line error
    on bad input.

    Returns:
        `(model, config, keras_path, run_dir, split, dataset)`.
    """
    from wsol_tf import training
    from wsol_tf.data import build_dataset
    from wsol_tf.data.diagnose import check_image_sizes

    try:
        model, config, keras_path = load_trained(model_path, checkpoint)
        config = training.resolve_experiment(config, trained=True)
        check_image_sizes(config.data, [split])
        dataset = build_dataset(config.data, split, training=False)
    except (ValueError, OSError) as e:
        sys.exit(f"ERROR: {e}")
    return model, config, keras_path, run_dir_of(keras_path), split, dataset
