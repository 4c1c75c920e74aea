"""absl flags shared by the tools, and their conversion to a config.

One flag per field of the dataclasses in `wsol_tf/config.py`, with the same
name and the library default. Two names appear in two dataclasses and are
one flag each: `--seed` sets `DataConfig.seed` (data order) and
`TrainConfig.seed` (weights, dropout); `--num_classes` sets
`DataConfig.num_classes` and `ModelConfig.num_classes` (unset: read from the
dataset). `--mixed_precision` is an alias of `--precision`.

Scripts call `flags.adopt_module_key_flags(common_flags)`, parse with
`parse_flags` (which resolves nested `--flagfile=flags/base.flags` lines
from any working directory, see `expand_flagfiles`) and convert with
`config_from_flags()`. Flag validators never touch the file system; the
library never reads `FLAGS`.
"""

import dataclasses
import os
import sys

from absl import flags

from wsol_tf import config as config_lib
from wsol_tf.cli.flagfiles import REPO_ROOT  # noqa: F401
from wsol_tf.cli.flagfiles import expand_flagfiles

FLAGS = flags.FLAGS

_ENUMS = {
    "architecture": config_lib.ARCHITECTURES,
    "method": config_lib.METHODS,
    "precision": config_lib.PRECISIONS,
    "strategy": config_lib.STRATEGIES,
    "normalization": config_lib.NORMALIZATIONS,
    "attention_source": ("output", "non_local"),
    "mask_mode": ("hard", "soft"),
    "forward_mask": ("dfg", "drop"),
    "pooled_feature": ("input", "output"),
    "loss_positions": ("all", "last"),
    "contrastive": ("triplet", "nt_xent", "none"),
    "consistency_distance": ("l1", "l2"),
    "consistency_mode": ("full", "background"),
}

_HELP = {
    # DataConfig
    "dataset_name": "Dataset: synthetic, cub, ilsvrc or openimages.",
    "data_root": "Directory the image ids are relative to; empty with "
    "dataset_name=synthetic: generate the embedded synthetic set.",
    "metadata_root": "wsolevaluation metadata directory holding "
    "<split>/{image_ids,class_labels,image_sizes,localization}.txt.",
    "mask_metadata_root": "Metadata with OpenImages-style masks for PxAP "
    "at evaluation ('' -> none).",
    "cache_dir": "Where the synthetic set is generated ('' -> "
    "$WSOL_TF_CACHE or ~/.cache/wsol_tf).",
    "num_classes": "Number of classes (unset: read from the train labels).",
    "train_split": "Split used for training (train-weaksup).",
    "val_split": "Split evaluated every epoch (train-fullsup).",
    "test_split": "Split evaluated once at the end (reported numbers).",
    "resize_size": "Training: squash-resize to this size, then random crop.",
    "image_size": "Training crop size (network input during training).",
    "eval_image_size": "Evaluation: squash-resize size; CAMs and GT boxes "
    "live in this frame (protocol: 224).",
    "normalization": "Input normalisation (imagenet: torchvision mean/std).",
    "batch_size": "Global training batch size (split over replicas).",
    "eval_batch_size": "Evaluation batch size.",
    "shuffle_buffer": "Shuffle buffer size for the training split.",
    "cache": "Cache decoded images in memory.",
    "num_parallel_calls": "tf.data parallelism (-1: AUTOTUNE).",
    "max_boxes": "GT boxes per image after padding (0: max of the split).",
    "seed": "Random seed: data order, initialisation and dropout draws.",
    "synthetic_num_classes": "Synthetic set: number of classes.",
    "synthetic_train_per_class": "Synthetic set: train images per class.",
    "synthetic_val_per_class": "Synthetic set: val images per class.",
    "synthetic_test_per_class": "Synthetic set: test images per class.",
    "synthetic_image_size": "Synthetic set: image side in pixels.",
    "synthetic_seed": "Synthetic set: generator seed.",
    "synthetic_head_scale": "Synthetic set: x the head (part) area "
    "(larger: easier to learn from scratch; <= 3).",
    "synthetic_distractor_heads": "Synthetic set: probability of another "
    "class's head in the background.",
    # ModelConfig
    "architecture": "Backbone (wsolevaluation variants).",
    "method": "WSOL method: cam, adl or icl.",
    "weights": "Backbone weights: unset (random), 'imagenet' or a path to "
    "a keras.applications .h5 / .weights.h5 file.",
    "large_feature_map": "28x28 instead of 14x14 final feature map.",
    "drop_rate": "ADL/ICL: probability of the drop branch per call.",
    "drop_threshold": "ADL/ICL gamma_d (unset: 0.8 VGG/Inception, 0.9 ResNet).",
    "bg_threshold": "ICL gamma_bg: background below this x per-sample max.",
    "use_non_local": "ICL: non-local attention blocks (else channel mean).",
    "non_local_sub_sample": "ICL: 2x2 max-pool phi and g in the NL block.",
    "non_local_reduction": "ICL: non-local embedding width C' = C / r "
    "(INFERRED: 2, Wang et al.; larger r is cheaper, e.g. on ResNet50).",
    "attention_source": "ICL: attention = channel mean of the block output "
    "or of the non-local term.",
    "mask_mode": "ICL: hard or soft (sigmoid) fg/bg pooling masks.",
    "forward_mask": "ICL: dfg (drop background + top region) or ADL's drop "
    "mask in the forward path.",
    "use_background_drop": "ICL: drop the background too in the forward mask.",
    "pooled_feature": "ICL: masked pooling reads the block input or output.",
    "loss_positions": "ICL: contrastive loss at all block positions or the "
    "last.",
    # LossConfig
    "contrastive": "ICL contrastive attention loss: triplet, nt_xent, none.",
    "ca_weight": "lambda_ca, weight of the contrastive attention loss.",
    "fc_weight": "lambda_fc, weight of the foreground consistency loss.",
    "margin": "Triplet margin.",
    "normalize_embeddings": "L2-normalise z_dfg, z_fg, z_bg (triplet).",
    "temperature": "NT-Xent temperature tau.",
    "consistency_distance": "Foreground consistency distance: l1 or l2.",
    "consistency_mode": "Foreground consistency: full map or background.",
    # TrainConfig
    "model_dir": "Output directory: checkpoints, backup, logs, config.json, "
    "metrics, visualizations, saved_model.",
    "epochs": "Training epochs.",
    "steps_per_epoch": "Steps per epoch (0: one pass over the train split).",
    "learning_rate": "Base learning rate (pretrained feature layers).",
    "lr_classifier_ratio": "Learning-rate multiplier of the new layers.",
    "lr_decay_epochs": "Multiply the learning rate by lr_decay_factor every "
    "this many epochs.",
    "lr_decay_factor": "Step-decay factor.",
    "momentum": "SGD momentum.",
    "nesterov": "Nesterov momentum.",
    "weight_decay": "Weight decay (coupled L2, as PyTorch SGD).",
    "precision": "Dtype policy: auto (mixed_float16 on GPU, float32 on "
    "CPU), float32, mixed_float16 or mixed_bfloat16.",
    "strategy": "tf.distribute strategy: default, mirrored, multi_worker "
    "(TF_CONFIG) or tpu.",
    "tpu_address": "TPU name or grpc:// address for --strategy=tpu.",
    "eval_every_epochs": "Evaluate the val split every N epochs (0: never).",
    "export": "Export a SavedModel to <model_dir>/saved_model at the end.",
    "visualize": "Write CAM grids and the BoxAcc curve at the end.",
    # EvalConfig
    "cam_curve_interval": "CAM threshold step (protocol, training: 0.001).",
    "multi_contour_eval": "Boxes from all contours (MaxBoxAccV2) instead of "
    "the largest one.",
    "iou_thresholds": "IoU thresholds in percent for MaxBoxAcc.",
    "loc_threshold": "CAM threshold of Top-1 / GT-known Loc (unset: the "
    "optimal one).",
    "pxap": "Compute PxAP when the split has masks.",
}

# Flag names that are two dataclass fields: the first section owns them.
_SHARED = {"seed": ("data", "train"), "num_classes": ("data", "model")}


def _define_all(flag_values):
    """Defines one flag per config field; returns {name: FlagHolder}."""
    holders = {}
    for section, cls in config_lib.ExperimentConfig._PARTS.items():
        for field in dataclasses.fields(cls):
            name = field.name
            if name in holders:
                continue
            default = field.default
            help_text = _HELP.get(
                name, f"{cls.__name__}.{name} (see wsol_tf/config.py)."
            )
            kwargs = dict(flag_values=flag_values)
            if name in _ENUMS:
                holder = flags.DEFINE_enum(
                    name, default, _ENUMS[name], help_text, **kwargs
                )
            elif name == "iou_thresholds":
                holder = flags.DEFINE_list(
                    name, [str(t) for t in default], help_text, **kwargs
                )
            elif isinstance(default, bool):
                holder = flags.DEFINE_bool(name, default, help_text, **kwargs)
            elif name in ("num_classes",) or isinstance(default, int):
                holder = flags.DEFINE_integer(
                    name,
                    default if name != "num_classes" else None,
                    help_text,
                    **kwargs,
                )
            elif name in ("drop_threshold", "loc_threshold") or isinstance(
                default, float
            ):
                holder = flags.DEFINE_float(name, default, help_text, **kwargs)
            else:
                holder = flags.DEFINE_string(name, default, help_text, **kwargs)
            holders[name] = holder
    flags.DEFINE_enum(
        "mixed_precision",
        None,
        config_lib.PRECISIONS,
        "Alias of --precision (wins when both are given).",
        flag_values=flag_values,
    )
    flags.register_validator(
        "iou_thresholds",
        _valid_iou_list,
        message="--iou_thresholds must be a comma-separated list of ints "
        "in (0, 100], e.g. 30,50,70.",
        flag_values=flag_values,
    )
    return holders


def _valid_iou_list(values):
    try:
        return len(values) > 0 and all(0 < int(v) <= 100 for v in values)
    except (TypeError, ValueError):
        return False


HOLDERS = _define_all(FLAGS)
MODEL_DIR = HOLDERS["model_dir"]

# Flags of the tools that read a trained model (evaluate, export,
# visualize); tools/train.py ignores them.
MODEL_PATH = flags.DEFINE_string(
    "model_path",
    None,
    "A training model_dir (its config.json and checkpoints/<checkpoint>"
    ".keras are used) or a .keras file.",
)
CHECKPOINT = flags.DEFINE_enum(
    "checkpoint", "last", ["last", "best"], "Checkpoint of a model_dir."
)
SPLIT = flags.DEFINE_string("split", "test", "Split to evaluate / draw.")
CAM_THRESHOLD = flags.DEFINE_float(
    "cam_threshold",
    None,
    "CAM threshold of the drawn / served box (default: see the tool).",
    lower_bound=0.0,
    upper_bound=0.999,
)


def quiet_logging():
    """absl logs at WARNING unless --verbosity was given (absl.app raises
    an unset verbosity to INFO, which floods the console with TF's INFO
    lines when exporting)."""
    from absl import logging

    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)


def set_defaults(defaults, flag_values=None):
    """Changes flag defaults (before parsing), e.g. a script's demo setup."""
    fv = flag_values if flag_values is not None else FLAGS
    for name, value in defaults.items():
        fv.set_default(name, value)


def config_from_flags(flag_values=None, base=None):
    """Builds the validated `ExperimentConfig` from parsed flags.

    Args:
        flag_values: a parsed `FlagValues` (default: `absl.flags.FLAGS`).
        base: optional `ExperimentConfig`. When given, only flags given on the
            command line or in a flagfile override it (e.g. the config.json
            of a training run); otherwise every flag value is used.

    Returns:
        `ExperimentConfig`.

    Raises:
        ValueError: naming the flag, when a value is out of range.
    """
    fv = flag_values if flag_values is not None else FLAGS
    explicit_only = base is not None
    base = base if base is not None else config_lib.ExperimentConfig()
    parts = {}
    for section, cls in config_lib.ExperimentConfig._PARTS.items():
        changes = {}
        for field in dataclasses.fields(cls):
            name = field.name
            source = name
            if name == "precision" and fv["mixed_precision"].value:
                source = "mixed_precision"
            if explicit_only and not fv[source].present:
                continue
            value = fv[source].value
            if name == "iou_thresholds":
                value = tuple(int(v) for v in value)
            if name == "num_classes" and section == "model" and value is None:
                continue
            changes[name] = value
        parts[section] = dataclasses.replace(getattr(base, section), **changes)
    config = config_lib.ExperimentConfig(**parts)
    try:
        config.validate()
    except ValueError as e:
        name = str(e).rsplit("Received: ", 1)[-1].split("=", 1)[0]
        raise ValueError(f"Bad value for flag --{name}: {e}") from None
    return config


def parse_flags(argv, flag_values=None):
    """absl `flags_parser` for `app.run`: flagfiles, then a clear FATAL."""
    fv = flag_values if flag_values is not None else FLAGS
    try:
        return fv(expand_flagfiles(argv))
    except flags.Error as e:
        if flag_values is not None:
            raise
        sys.stderr.write(f"FATAL Flags parsing error: {e}\n")
        sys.stderr.write(
            "Pass --helpshort or --helpfull to see help on flags.\n"
        )
        sys.exit(1)


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
        `(model, config, keras_path)`.

    Raises:
        FileNotFoundError: naming the missing path.
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
    import keras

    import wsol_tf.models  # noqa: F401  (registers the custom objects)

    model = keras.saving.load_model(keras_path, safe_mode=True)
    return model, config, keras_path


def run_dir_of(keras_path):
    """The training model_dir of `.../checkpoints/x.keras`, else its folder."""
    run_dir = os.path.dirname(keras_path)
    if os.path.basename(run_dir) == "checkpoints":
        run_dir = os.path.dirname(run_dir)
    return run_dir


def load_trained_split():
    """Model, resolved config, run dir and eval dataset from the flags.

    Shared by tools/evaluate.py and tools/visualize.py: loads
    `--model_path` / `--checkpoint`, resolves the dataset and builds the
    eval pipeline of `--split`. Exits with a one-line error on bad input.

    Returns:
        `(model, config, keras_path, run_dir, split, dataset)`.
    """
    from wsol_tf import training
    from wsol_tf.data import build_dataset

    try:
        model, config, keras_path = load_trained(
            MODEL_PATH.value, CHECKPOINT.value
        )
        config = training.resolve_experiment(config)
        split = SPLIT.value
        dataset = build_dataset(config.data, split, training=False)
    except (ValueError, OSError) as e:
        sys.exit(f"ERROR: {e}")
    return model, config, keras_path, run_dir_of(keras_path), split, dataset
