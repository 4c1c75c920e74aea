r"""Pretrain the synthetic stand-in for ImageNet weights, with its record.

    python tools/pretrain.py --recipe=natural20 --output_dir=wsol_tf/pretrained

trains the source CAM classifier of a named recipe
(`wsol_tf.training.pretrain.RECIPES`) for the model and input settings of
the demo preset (or of `--flagfile` and the other config flags), measures
the source features (val top-1; on the source test split the CAM's
MaxBoxAccV2 against the best centred Gaussian, and where the CAM mass
lies), and writes beside each other:

    <output_dir>/<architecture>_w<width>_<size>px_<key>.weights.h5
    <output_dir>/<architecture>_w<width>_<size>px_<key>.json

The JSON record holds the command, the code's git commit, the recipe, the
settings key, the precision, the wall time, the source metrics, the
predictions on the first source val images and the file's sha256.
`--weights=synthetic` uses a file of `wsol_tf/pretrained/` whose record
matches its settings (`pretrain.shipped_weights`), else the cache.
"""

import os
import subprocess
import sys
import time

from absl import flags

from wsol_tf.cli import config_flags
from wsol_tf.cli import flagfiles

RECIPE = flagfiles.define_once(
    flags.DEFINE_string,
    "recipe",
    None,
    "Named pretraining recipe (pretrain.RECIPES; default: the one that "
    "--weights=synthetic uses, pretrain.DEFAULT_RECIPE).",
)
STEPS = flagfiles.define_once(
    flags.DEFINE_integer,
    "steps",
    0,
    "Override the recipe's training steps (0: the recipe's).",
    0,
)
OUTPUT_DIR = flagfiles.define_once(
    flags.DEFINE_string,
    "output_dir",
    "",
    "Where the weights file and its record go ('' -> the cache's "
    "pretrained/ directory, where --weights=synthetic looks).",
)
flags.adopt_module_key_flags(config_flags)

DEMO_FLAGFILE = "flags/demo.flags"


def _commit():
    """The git commit of the package's checkout, '+dirty' if modified."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + ("+dirty" if dirty else "")


def _base36(value):
    return "0123456789abcdefghijklmnopqrstuvwxyz"[value]


def _cpu():
    """The CPU's model name, its core count and whether it has bfloat16."""
    from wsol_tf import distribute

    name = distribute.cpu_model_name()
    bf16 = distribute.cpu_has_native_bfloat16()
    return f"{name}, {os.cpu_count()} cores, avx512_bf16: {bf16}"


def main(argv):
    from absl import app

    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    flagfiles.quiet_logging()
    import datetime

    from wsol_tf import distribute
    from wsol_tf.cli.errors import FlagError
    from wsol_tf.io_utils import write_json
    from wsol_tf.training import pretrain

    recipe_name = RECIPE.value or pretrain.DEFAULT_RECIPE
    if recipe_name not in pretrain.RECIPES:
        raise FlagError(
            f"--recipe: expected one of {sorted(pretrain.RECIPES)}. "
            f"Received: {recipe_name!r}"
        )
    recipe = pretrain.RECIPES[recipe_name]
    if STEPS.value:
        recipe = recipe.replace(steps=STEPS.value)
    config = config_flags.config_from_flags()
    model_config, data_config = config.model, config.data
    output_dir = OUTPUT_DIR.value or os.path.dirname(
        pretrain.weights_path(model_config, data_config, recipe)
    )
    name = os.path.basename(
        pretrain.weights_path(model_config, data_config, recipe)
    )
    path = os.path.join(output_dir, name)
    os.makedirs(output_dir, exist_ok=True)
    commit = _commit()
    started = datetime.datetime.now(datetime.timezone.utc)
    start = time.time()
    print(
        f"Pretraining {name}: {recipe.steps} steps of {recipe.batch_size} on "
        f"{recipe.num_classes} source classes",
        flush=True,
    )
    model = pretrain.train_source_model(
        model_config,
        data_config,
        config.train.precision,
        recipe,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    train_seconds = time.time() - start
    source = pretrain.source_dataset(data_config, recipe)
    print("Measuring the source features", flush=True)
    metrics = pretrain.measure_source(model, source)
    preds, labels = pretrain.source_predictions(model, source)
    pretrain.write_pretrained(path, model, model_config, recipe)
    record = {
        "command": "python tools/pretrain.py " + " ".join(sys.argv[1:]),
        "commit": commit,
        "recipe_name": pretrain.recipe_name(recipe),
        "recipe": pretrain.recipe_settings(recipe),
        "key": pretrain.weights_key(model_config, data_config, recipe),
        "precision": distribute.resolve_precision(config.train.precision),
        "started": started.isoformat(timespec="seconds"),
        "train_seconds": round(train_seconds, 1),
        "wall_seconds": round(time.time() - start, 1),
        "cpu": _cpu(),
        "source_metrics": metrics,
        "check": {
            "split": "val",
            "images": len(preds),
            # One character per image (base 36: classes 0-35).
            "predictions": "".join(_base36(p) for p in preds),
            "labels": "".join(_base36(y) for y in labels),
            "top1": 100.0
            * sum(p == y for p, y in zip(preds, labels))
            / max(1, len(preds)),
        },
        "file": name,
        "sha256": pretrain._sha256(path),
    }
    write_json(pretrain.record_path(path), record)
    print(
        f"Wrote {name} and its record in {time.time() - start:.0f} s: source "
        f"val top-1 {metrics['val_top1']:.1f} %, source CAM MaxBoxAccV2 "
        f"{metrics['test_maxboxaccv2']:.1f} (centred Gaussian "
        f"{metrics['center_gaussian_maxboxaccv2']:.1f}), CAM on background "
        f"{metrics['cam_on_background']:.1f} %",
        flush=True,
    )


def run():
    """Console-script entry point."""
    import functools

    from wsol_tf.cli.errors import run_tool

    run_tool(
        main,
        flags_parser=functools.partial(
            flagfiles.parse_flags, preset=DEMO_FLAGFILE
        ),
    )
