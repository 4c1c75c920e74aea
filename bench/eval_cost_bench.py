"""Evaluation cost: the fast-vs-reference ratio and the callback per epoch.

    python bench/eval_cost_bench.py                 # ~5 min on 2 CPU cores
    python bench/eval_cost_bench.py --image_sizes=64 --skip_eval_bench
    python bench/eval_cost_bench.py --write_readme  # tables from the JSON

1. Runs `bench/eval_bench.py` (the evaluation module's own benchmark: the
   vectorised BoxEvaluator against the reference per-threshold loop) in a
   subprocess and keeps its output (and its JSON result when it writes
   one under bench/results/).
2. Times `LocalizationMetricsCallback.on_epoch_end` (CAMs of the val split
   with `model.compute_cams(images, labels)` + MaxBoxAccV2 / GT-known /
   PxAP) for an ICL `WSOLModel` (`--architecture`, default ResNet50) at
   each `--image_sizes`, against one training epoch of the synthetic train
   split at the same size (`--steps` timed training steps x
   steps_per_epoch; batch `--batch_size`). The ratio callback / epoch is
   the share of wall time that per-epoch validation adds.
Results: `bench/results/eval_cost_<date>.json` and `.md`.
"""

import glob
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import make_tables  # noqa: E402  (bench/, the script's own directory)
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

_SIZES = flags.DEFINE_list("image_sizes", ["64", "224"], "Image sides.")
_ARCH = flags.DEFINE_enum(
    "architecture", "resnet50", ["vgg16", "resnet50", "inceptionv3"], "."
)
_METHOD = flags.DEFINE_enum("method", "icl", ["cam", "adl", "icl"], ".")
_BATCH = flags.DEFINE_integer("batch_size", 8, "Training batch size.")
_STEPS = flags.DEFINE_integer("steps", 3, "Timed training steps.")
_REPEATS = flags.DEFINE_integer("repeats", 2, "Timed callback calls.")
_INTERVAL = flags.DEFINE_float(
    "cam_curve_interval", 0.001, "EvalConfig.cam_curve_interval (protocol)."
)
_SKIP = flags.DEFINE_bool("skip_eval_bench", False, "Skip eval_bench.py.")
_EVAL_BENCH_ARGS = flags.DEFINE_string(
    "eval_bench_args", "", "Extra arguments for bench/eval_bench.py."
)
_OUTPUT = flags.DEFINE_string("output", "", "JSON path (default: dated).")
_WRITE_README = flags.DEFINE_bool(
    "write_readme", False, "Only regenerate the markdown from --output."
)
_CACHE_DIR = flags.DEFINE_string("cache_dir", "", "Synthetic dataset cache.")


def run_eval_bench():
    """Runs bench/eval_bench.py; returns its output (and JSON if any)."""
    script = os.path.join(make_tables.BENCH_DIR, "eval_bench.py")
    if not os.path.exists(script):
        return {"error": "bench/eval_bench.py not found"}
    started = time.time()
    argv = [sys.executable, script] + _EVAL_BENCH_ARGS.value.split()
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    out = {
        "command": "python bench/eval_bench.py " + _EVAL_BENCH_ARGS.value,
        "returncode": proc.returncode,
        "stdout": proc.stdout[-6000:],
        "wall_seconds": time.perf_counter() - start,
    }
    if proc.returncode:
        out["stderr"] = proc.stderr[-3000:]
    pattern = os.path.join(make_tables.RESULTS_DIR, "eval_bench_*.json")
    for path in sorted(glob.glob(pattern)):
        if os.path.getmtime(path) >= started - 1:
            with open(path) as f:
                out["json"] = json.load(f)
            out["json_path"] = os.path.relpath(path, make_tables.BENCH_DIR)
    return out


def callback_cost(size):
    """Callback seconds vs. training-epoch seconds at one image size."""
    import keras

    from wsol_tf.callbacks import LocalizationMetricsCallback
    from wsol_tf.config import DataConfig
    from wsol_tf.config import EvalConfig
    from wsol_tf.config import ModelConfig
    from wsol_tf.data import build_dataset
    from wsol_tf.data import read_metadata
    from wsol_tf.data import resolve_dataset
    from wsol_tf.models import WSOLModel

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    data = resolve_dataset(
        DataConfig(
            cache_dir=_CACHE_DIR.value,
            image_size=size,
            resize_size=size * 8 // 7,
            eval_image_size=size,
            batch_size=_BATCH.value,
        )
    )
    model = WSOLModel(
        ModelConfig(
            architecture=_ARCH.value,
            method=_METHOD.value,
            num_classes=data.num_classes,
        ),
        size,
        seed=0,
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True)
    )
    train_ds = build_dataset(data, data.train_split, training=True).repeat()
    it = iter(train_ds)
    for _ in range(2):  # warm-up (tracing)
        model.train_on_batch(*next(it))
    start = time.perf_counter()
    for _ in range(_STEPS.value):
        model.train_on_batch(*next(it))
    step = (time.perf_counter() - start) / _STEPS.value
    train_meta = read_metadata(data.metadata_root, data.train_split)
    num_train = len(train_meta.image_ids)
    steps_per_epoch = num_train // _BATCH.value
    val_ds = build_dataset(data, data.val_split, training=False)
    num_val = len(read_metadata(data.metadata_root, data.val_split).image_ids)
    callback = LocalizationMetricsCallback(
        val_ds,
        eval_config=EvalConfig(cam_curve_interval=_INTERVAL.value),
        verbose=0,
    )
    callback.set_model(model)
    logs = {}
    callback.on_epoch_end(0, logs)  # warm-up: traces compute_cams
    times = []
    for epoch in range(_REPEATS.value):
        logs = {}
        start = time.perf_counter()
        callback.on_epoch_end(epoch + 1, logs)
        times.append(time.perf_counter() - start)
    cb = min(times)
    epoch_seconds = step * steps_per_epoch
    return {
        "image_size": size,
        "architecture": _ARCH.value,
        "method": _METHOD.value,
        "train_step_seconds": step,
        "train_steps_per_epoch": steps_per_epoch,
        "train_images": num_train,
        "train_epoch_seconds": epoch_seconds,
        "val_images": num_val,
        "callback_seconds": cb,
        "callback_seconds_all": times,
        "callback_over_epoch": cb / epoch_seconds,
        "callback_logs": {
            k: float(v) for k, v in logs.items() if isinstance(v, float)
        },
    }


def main(argv):
    del argv
    path = _OUTPUT.value or make_tables.result_path("eval_cost", "json")
    if _WRITE_README.value:
        make_tables.show_and_update_readme("eval_cost", path)
        return
    settings = {
        "image_sizes": [int(s) for s in _SIZES.value],
        "architecture": _ARCH.value,
        "method": _METHOD.value,
        "batch_size": _BATCH.value,
        "steps": _STEPS.value,
        "cam_curve_interval": _INTERVAL.value,
    }
    result = {"meta": make_tables.machine_info(), "settings": settings}
    result["eval_bench"] = None if _SKIP.value else run_eval_bench()
    result["callback"] = []
    for size in settings["image_sizes"]:
        result["callback"].append(callback_cost(size))
        make_tables.save_result("eval_cost", result, path)
    make_tables.save_result("eval_cost", result, path)
    print(make_tables.eval_cost_markdown(result))
    print(f"Wrote {path}")


if __name__ == "__main__":
    app.run(main)
