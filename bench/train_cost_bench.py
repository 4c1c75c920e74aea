"""Training cost: images/s and peak memory of CAM, ADL and ICL per backbone.

    python bench/train_cost_bench.py                 # CPU: ~15 min, 2 cores
    python bench/train_cost_bench.py --precisions=float32,mixed_float16 \
        --batch_size=32 --steps=20                   # a GPU machine
    python bench/train_cost_bench.py --write_readme  # tables from the JSON
    python bench/train_cost_bench.py --architectures=resnet50 \
        --methods=cam,icl --non_local_reductions=2,4,8  # ICL widths

For every (backbone, precision, method) one training step (forward +
backward + SGD Nesterov update through `WSOLModel.train_step`, on random
images at `--image_size`) is timed after `--warmup` steps, each
configuration in a fresh subprocess so that its dtype policy is clean and
its peak memory (`resource.getrusage(RUSAGE_SELF).ru_maxrss`, the RSS
high-water mark of the process: weights, optimizer state, activations and
the TensorFlow runtime; on a GPU `tf.config.experimental.get_memory_info`
peak is reported too) is its own. ICL is measured once per non-local
reduction `r` of `--non_local_reductions` (`ModelConfig.non_local_reduction`,
embedding width C' = C / r; 2 is the default block), and the overhead ratio
ICL(r) / CAM (step time) is computed for every r from the runs of this
invocation, side by side; the goal is < 1.3x. Results:
`bench/results/train_cost_<date>.json` and `.md`.
"""

import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import make_tables  # noqa: E402  (bench/, the script's own directory)
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

_ARCHS = flags.DEFINE_list(
    "architectures", ["vgg16", "resnet50", "inceptionv3"], "Backbones."
)
_METHODS = flags.DEFINE_list("methods", ["cam", "adl", "icl"], "Methods.")
_PRECISIONS = flags.DEFINE_list(
    "precisions",
    ["float32", "mixed_bfloat16"],
    "Dtype policies (mixed_float16 on a GPU).",
)
_REDUCTIONS = flags.DEFINE_list(
    "non_local_reductions",
    ["2", "8"],
    "ICL is measured once per value r (non_local_reduction: non-local "
    "embedding width C' = C / r).",
)
_IMAGE = flags.DEFINE_integer("image_size", 224, "Input side.")
_BATCH = flags.DEFINE_integer("batch_size", 8, "Batch size.")
_STEPS = flags.DEFINE_integer("steps", 3, "Timed steps.")
_WARMUP = flags.DEFINE_integer("warmup", 2, "Untimed steps (tracing).")
_REPEATS = flags.DEFINE_integer(
    "repeats", 1, "Round-robin passes over all configurations (min kept)."
)
_CLASSES = flags.DEFINE_integer("num_classes", 200, "Classes (CUB: 200).")
_OUTPUT = flags.DEFINE_string("output", "", "JSON path (default: dated).")
_WRITE_README = flags.DEFINE_bool(
    "write_readme", False, "Only regenerate the markdown from --output."
)
_CHILD = flags.DEFINE_string(
    "child", "", "Internal: arch,method,precision[,reduction]."
)


def _reductions():
    """The distinct `--non_local_reductions`, as ints >= 1."""
    values = []
    for v in _REDUCTIONS.value:
        r = int(v)
        if r < 1:
            raise ValueError(
                "--non_local_reductions takes integers >= 1. "
                f"Received: non_local_reductions={_REDUCTIONS.value}"
            )
        if r not in values:
            values.append(r)
    return values


def measure(architecture, method, precision, reduction=None):
    """One configuration, in this process. Returns a dict of numbers.

    `reduction` (ICL only) is the model's `non_local_reduction`.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from wsol_tf.config import ModelConfig
    from wsol_tf.config import TrainConfig
    from wsol_tf.models import WSOLModel
    from wsol_tf.optimizers import build_optimizer

    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(0)
    size, batch = _IMAGE.value, _BATCH.value
    extra = {}
    if reduction is not None:
        extra["non_local_reduction"] = int(reduction)
    config = ModelConfig(
        architecture=architecture,
        method=method,
        num_classes=_CLASSES.value,
        **extra,
    )
    model = WSOLModel(config, size, seed=0)
    model.compile(optimizer=build_optimizer(TrainConfig(), model))
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((batch, size, size, 3)), tf.float32)
    y = tf.constant(rng.integers(0, _CLASSES.value, batch), tf.int32)
    for _ in range(_WARMUP.value):
        logs = model.train_on_batch(x, y, return_dict=True)
    times = []
    for _ in range(_STEPS.value):
        start = time.perf_counter()
        logs = model.train_on_batch(x, y, return_dict=True)
        times.append(time.perf_counter() - start)
    step = float(np.median(times))
    out = {
        "architecture": architecture,
        "method": method,
        "precision": precision,
        "step_seconds": step,
        "step_seconds_all": times,
        "images_per_second": batch / step,
        "params": int(model.count_params()),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        / 1024.0,
        "total_loss": float(logs["total_loss"]),
    }
    if reduction is not None:
        out["non_local_reduction"] = int(reduction)
    if tf.config.list_physical_devices("GPU"):
        info = tf.config.experimental.get_memory_info("GPU:0")
        out["peak_gpu_mib"] = info["peak"] / 2**20
    return out


def _run_child(architecture, method, precision, reduction=None):
    child = f"{architecture},{method},{precision}"
    if reduction is not None:
        child += f",{reduction}"
    argv = [sys.executable, os.path.abspath(__file__)]
    argv += [f"--child={child}"]
    argv += [
        f"--image_size={_IMAGE.value}",
        f"--batch_size={_BATCH.value}",
        f"--steps={_STEPS.value}",
        f"--warmup={_WARMUP.value}",
        f"--num_classes={_CLASSES.value}",
    ]
    proc = subprocess.run(argv, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    failed = {
        "architecture": architecture,
        "method": method,
        "precision": precision,
        "error": (proc.stderr or proc.stdout)[-2000:],
    }
    if reduction is not None:
        failed["non_local_reduction"] = int(reduction)
    return failed


def _merge(best, run):
    """Keeps the fastest pass of a configuration; records every pass."""
    if best is None or "error" in best:
        merged = dict(run)
        merged["passes"] = [run.get("step_seconds")]
        return merged
    if "error" in run:
        best["passes"].append(None)
        return best
    passes = best["passes"] + [run["step_seconds"]]
    rss = max(best["peak_rss_mib"], run["peak_rss_mib"])
    if run["step_seconds"] < best["step_seconds"]:
        best = dict(run)
    best["passes"] = passes
    best["peak_rss_mib"] = rss
    return best


def main(argv):
    del argv
    if _CHILD.value:
        arch, method, precision, *rest = _CHILD.value.split(",")
        reduction = int(rest[0]) if rest else None
        result = measure(arch, method, precision, reduction)
        print("RESULT " + json.dumps(result))
        return
    path = _OUTPUT.value or make_tables.result_path("train_cost", "json")
    if _WRITE_README.value:
        make_tables.show_and_update_readme("train_cost", path)
        return
    settings = {
        "architectures": list(_ARCHS.value),
        "methods": list(_METHODS.value),
        "non_local_reductions": _reductions(),
        "precisions": list(_PRECISIONS.value),
        "image_size": _IMAGE.value,
        "batch_size": _BATCH.value,
        "steps": _STEPS.value,
        "warmup": _WARMUP.value,
        "repeats": _REPEATS.value,
        "num_classes": _CLASSES.value,
    }
    result = {"meta": make_tables.machine_info(), "settings": settings}
    result["runs"] = []
    # ICL once per non-local reduction r, the other methods once (r None).
    configs = [
        (arch, precision, method, reduction)
        for arch in _ARCHS.value
        for precision in _PRECISIONS.value
        for method in _METHODS.value
        for reduction in (
            settings["non_local_reductions"] if method == "icl" else [None]
        )
    ]
    runs = {}
    # Round-robin passes: a load spike from other jobs hits one pass of a
    # configuration, and the fastest pass is kept.
    for rep in range(_REPEATS.value):
        for key in configs:
            arch, precision, method, reduction = key
            label = make_tables.method_label(method, reduction)
            start = time.perf_counter()
            run = _run_child(arch, method, precision, reduction)
            run["wall_seconds"] = time.perf_counter() - start
            runs[key] = _merge(runs.get(key), run)
            result["runs"] = [runs[k] for k in configs if k in runs]
            make_tables.save_result("train_cost", result, path)
            if "error" in run:
                print(f"{arch} {precision} {label}: FAILED", flush=True)
            else:
                print(
                    f"pass {rep + 1} {arch:12s} {precision:15s} {label:9s} "
                    f"{run['images_per_second']:7.2f} img/s "
                    f"{run['peak_rss_mib']:7.0f} MiB "
                    f"({run['wall_seconds']:.0f} s)",
                    flush=True,
                )
    print(make_tables.train_cost_markdown(result))
    for line in make_tables.train_cost_ratio_lines(result):
        print(line)
    print(f"Wrote {path}")


if __name__ == "__main__":
    app.run(main)
