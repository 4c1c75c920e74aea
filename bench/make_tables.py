"""Markdown tables of the bench results, generated from their JSON files.

    python bench/make_tables.py          # rewrite bench/README.md sections
                                         # and the top-level README.md

Every bench script writes `bench/results/<kind>_<date>.json` (raw numbers,
the command, the machine and the library versions) and the matching `.md`.
This module turns a JSON file into markdown (no figure is typed by hand)
and replaces the section `<!-- BEGIN <kind> -->` ... `<!-- END <kind> -->`
of `bench/README.md` with the newest result of each kind. The scripts
import its helpers (`machine_info`, `write_json`, `mean_std`, ...).
"""

import datetime
import glob
import json
import os
import platform
import re
import sys

import numpy as np

from wsol_tf.io_utils import atomic_path

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
README = os.path.join(BENCH_DIR, "README.md")
TOP_README = os.path.join(os.path.dirname(BENCH_DIR), "README.md")
# Kinds whose tables this module renders (quality_bench.py and
# synthetic_probe.py render and write their own sections).
KINDS = ("train_cost", "eval_cost")


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def machine_info():
    """CPU model, core count, Python / TF / Keras versions, date (UTC)."""
    from wsol_tf.distribute import cpu_model_name

    cpu = cpu_model_name()
    info = {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "date_utc": now_utc().strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python " + " ".join(sys.argv),
        "loadavg_at_start": list(os.getloadavg()),
    }
    try:
        import keras
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
        info["keras"] = keras.__version__
        gpus = tf.config.list_physical_devices("GPU")
        info["gpus"] = [d.name for d in gpus]
    except ImportError:  # pragma: no cover
        pass
    return info


def _default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Not JSON serializable: {type(value).__name__}")


def write_text(path, text):
    """Writes `text` atomically (`wsol_tf.io_utils.atomic_path`)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def write_json(path, obj):
    text = json.dumps(obj, indent=2, sort_keys=True, default=_default)
    write_text(path, text)


def result_path(kind, ext, date=None):
    date = date or now_utc().strftime("%Y-%m-%d")
    return os.path.join(RESULTS_DIR, f"{kind}_{date}.{ext}")


def latest(kind):
    """Newest `bench/results/<kind>_*.json`, or None."""
    paths = sorted(glob.glob(os.path.join(RESULTS_DIR, f"{kind}_2*.json")))
    return paths[-1] if paths else None


def mean_std(values, scale=1.0, digits=2):
    """`"m ± s"` (sample std, ddof=1) of the finite values; "n/a" if none."""
    vals = [float(v) * scale for v in values if v is not None]
    vals = [v for v in vals if np.isfinite(v)]
    if not vals:
        return "n/a"
    m = np.mean(vals)
    if len(vals) == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {np.std(vals, ddof=1):.{digits}f}"


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


# An absolute path's part up to the checkout's `bench/` folder, and any
# other absolute path's folders: tables name files relative to the
# repository, and only the file name of one outside it.
_CHECKOUT_BENCH = re.compile(r"(?<![\w.~-])/(?:[\w.+-]+/)*?bench/")
_OUTSIDE_DIRS = re.compile(r"(?<![\w.~<>-])/(?:[\w.+-]+/)+(?=[\w.+-])")


def portable(text):
    """`text` with absolute paths made repository-relative where they lie
    in a checkout (`.../bench/x` -> `bench/x`), else cut to `<dir>/name`."""
    text = _CHECKOUT_BENCH.sub("bench/", text)
    return _OUTSIDE_DIRS.sub("<dir>/", text)


def provenance(meta):
    gpus = meta.get("gpus") or []
    device = ", ".join(gpus) if gpus else "no GPU"
    return (
        f"Command: `{portable(meta.get('command', '?'))}`  \n"
        f"Machine: {meta.get('cpu', '?')}, {meta.get('cpu_count', '?')} "
        f"CPU cores, {device}; TensorFlow {meta.get('tensorflow', '?')}, "
        f"Keras {meta.get('keras', '?')}, Python {meta.get('python', '?')}; "
        f"{meta.get('date_utc', '?')}. Load average (1 min) at start / end: "
        f"{_load(meta, 'loadavg_at_start')} / {_load(meta, 'loadavg_at_end')}"
        " (the machine was shared with other jobs when above the core count)."
    )


def _load(meta, key):
    value = meta.get(key)
    return f"{value[0]:.1f}" if value else "?"


def finish_meta(meta):
    """Records the load average at the end of a run."""
    meta["loadavg_at_end"] = list(os.getloadavg())
    return meta


def _fastest(run):
    """Fastest timed step of a run (robust to load spikes of other jobs)."""
    return min(run.get("step_seconds_all") or [run["step_seconds"]])


# Non-local reduction of ICL runs that predate `--non_local_reductions`
# (the default block, C' = C / 2).
DEFAULT_NON_LOCAL_REDUCTION = 2


def run_reduction(run):
    """ICL run: its `non_local_reduction` (old JSON: 2); others: None."""
    if run["method"] != "icl":
        return None
    return int(run.get("non_local_reduction", DEFAULT_NON_LOCAL_REDUCTION))


def method_label(method, reduction=None):
    """`"CAM"`, `"ADL"`, or `"ICL(r=8)"` for ICL with reduction r."""
    if method == "icl" and reduction is not None:
        return f"ICL(r={reduction})"
    return method.upper()


def _run_key(run):
    return (
        run["architecture"],
        run["precision"],
        run["method"],
        run_reduction(run),
    )


def _train_cost_reductions(settings, ok):
    found = sorted({run_reduction(r) for r in ok if r["method"] == "icl"})
    listed = settings.get("non_local_reductions") or []
    return list(listed) + [r for r in found if r not in listed]


def train_cost_overhead(result):
    """`[(arch, precision, r, fastest ratio, median ratio)]`, ICL(r) / CAM."""
    settings = result["settings"]
    ok = [r for r in result["runs"] if "error" not in r]
    by = {_run_key(r): r for r in ok}
    rows = []
    for arch in settings["architectures"]:
        for prec in settings["precisions"]:
            cam = by.get((arch, prec, "cam", None))
            for reduction in _train_cost_reductions(settings, ok):
                icl = by.get((arch, prec, "icl", reduction))
                if cam and icl:
                    fast = _fastest(icl) / _fastest(cam)
                    median = icl["step_seconds"] / cam["step_seconds"]
                    rows.append((arch, prec, reduction, fast, median))
    return rows


def train_cost_ratio_lines(result):
    """One line per (backbone, precision, r): `ICL(r=..)/CAM` ratios."""
    return [
        f"{arch} {prec} ICL(r={r})/CAM: {fast:.2f}x (fastest steps), "
        f"{median:.2f}x (median steps)"
        for arch, prec, r, fast, median in train_cost_overhead(result)
    ]


def train_cost_markdown(result):
    settings, runs = result["settings"], result["runs"]
    batch = settings["batch_size"]
    ok = [r for r in runs if "error" not in r]
    by = {_run_key(r): r for r in ok}
    gpu = any("peak_gpu_mib" in r for r in ok)
    header = ["Backbone", "Precision", "Method", "params (M)"]
    header += ["images/s (fastest step)"]
    header += ["s/step fastest", "s/step median"]
    header += ["peak RSS (MiB)"] + (["peak GPU (MiB)"] if gpu else [])
    header += ["fastest / CAM", "median / CAM"]
    rows = []
    for r in ok:
        cam = by.get((r["architecture"], r["precision"], "cam", None))
        ratios = ["n/a", "n/a"]
        if cam:
            ratios = [
                f"{_fastest(r) / _fastest(cam):.2f}x",
                f"{r['step_seconds'] / cam['step_seconds']:.2f}x",
            ]
        cells = [
            r["architecture"],
            r["precision"],
            method_label(r["method"], run_reduction(r)),
            f"{r['params'] / 1e6:.1f}",
            f"{batch / _fastest(r):.2f}",
            f"{_fastest(r):.3f}",
            f"{r['step_seconds']:.3f}",
            f"{r['peak_rss_mib']:.0f}",
        ]
        if gpu:
            cells.append(f"{r.get('peak_gpu_mib', float('nan')):.0f}")
        rows.append(cells + ratios)
    overhead = [
        [
            arch,
            prec,
            f"C/{r}",
            f"{fast:.2f}x",
            f"{median:.2f}x",
            "yes" if fast < 1.3 else "no",
        ]
        for arch, prec, r, fast, median in train_cost_overhead(result)
    ]
    failed = [r for r in runs if "error" in r]
    text = [
        f"One training step (forward + backward + SGD update, "
        f"`WSOLModel.train_step`), {settings['image_size']} px, batch "
        f"{settings['batch_size']}, {settings['num_classes']} classes; "
        f"{settings['steps']} timed steps after "
        f"{settings['warmup']} warm-up steps; each configuration in a fresh "
        "process (peak RSS = its `ru_maxrss`)"
        + (
            f"; {settings['repeats']} round-robin passes over all "
            "configurations, the fastest pass kept (passes' s/step in the "
            "JSON)."
            if settings.get("repeats", 1) > 1
            else "."
        ),
        "",
        md_table(header, rows),
        "",
        "ICL overhead over CAM (step time, same run; goal < 1.3x); ICL(r) "
        "has non-local embedding width C' = C / r (`non_local_reduction`, "
        "default 2):",
        "",
        md_table(
            [
                "Backbone",
                "Precision",
                "non-local width",
                "ICL(r) / CAM (fastest steps)",
                "ICL(r) / CAM (median steps)",
                "< 1.3x (fastest)",
            ],
            overhead,
        ),
    ]
    if failed:
        text += ["", "Failed configurations:"]
        text += [
            f"- {r['architecture']} {r['precision']} "
            f"{method_label(r['method'], run_reduction(r))}: "
            f"`{r['error'].strip().splitlines()[-1]}`"
            for r in failed
        ]
    text += ["", provenance(result["meta"])]
    return "\n".join(text)


def eval_cost_markdown(result):
    settings = result["settings"]
    text = []
    ev = result.get("eval_bench") or {}
    text.append("**Evaluator: fast vs. reference** (`bench/eval_bench.py`):")
    text.append("")
    if "error" in ev:
        text.append(f"not run: {ev['error']}")
    elif ev:
        text.append("```")
        text.append(portable(ev.get("stdout", "").strip()[-3000:]))
        text.append("```")
    text.append("")
    rows = []
    for r in result["callback"]:
        if "error" in r:
            error = "error: " + r["error"][-200:]
            rows.append([r["image_size"], error] + [""] * 5)
            continue
        rows.append(
            [
                f"{r['architecture']} {r['method'].upper()} "
                f"{r['image_size']} px",
                f"{r['train_images']} / {r['val_images']}",
                f"{r['train_step_seconds']:.3f} x {r['train_steps_per_epoch']}",
                f"{r['train_epoch_seconds']:.1f}",
                f"{r['callback_seconds']:.2f}",
                f"{100 * r['callback_over_epoch']:.1f}%",
            ]
        )
    text.append(
        "**LocalizationMetricsCallback per epoch** (val split of the "
        "synthetic dataset, cam_curve_interval "
        f"{settings['cam_curve_interval']}"
        f"; training batch {settings['batch_size']}, epoch = measured step "
        "time x steps per epoch):"
    )
    text.append("")
    text.append(
        md_table(
            [
                "Model",
                "train / val images",
                "s/step x steps",
                "train epoch (s)",
                "callback (s)",
                "callback / epoch",
            ],
            rows,
        )
    )
    text += ["", provenance(result["meta"])]
    return "\n".join(text)


MARKDOWN = {
    "train_cost_rerun": train_cost_markdown,
    "train_cost": train_cost_markdown,
    "eval_cost": eval_cost_markdown,
}


def _markdown(kind, path):
    with open(path) as f:
        return MARKDOWN[kind](json.load(f))


def save_result(kind, result, path):
    """Writes a run's JSON (with its end-of-run meta) and its markdown."""
    finish_meta(result["meta"])
    write_json(path, result)
    write_text(path[: -len(".json")] + ".md", MARKDOWN[kind](result))


def show_and_update_readme(kind, path):
    """`--write_readme`: prints the tables of `path`, refreshes READMEs."""
    print(_markdown(kind, path))
    update_readme((kind,))


def replace_section(text, kind, body):
    begin, end = f"<!-- BEGIN {kind} -->", f"<!-- END {kind} -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    if begin in text and end in text:
        head = text.split(begin, 1)[0]
        tail = text.split(end, 1)[1]
        return head + block + tail
    return text.rstrip() + "\n\n" + block + "\n"


def write_section(path, kind, body, append=True):
    """Replaces section `kind` of the markdown file `path` with `body`.

    A file without the section's markers gets it appended, or, with
    `append=False`, is left as it is. Returns whether the file was written.
    """
    with open(path) as f:
        text = f.read()
    if not append and f"<!-- BEGIN {kind} -->" not in text:
        return False
    write_text(path, replace_section(text, kind, body))
    return True


def render_json_files(paths, render, kind, write_readme=False):
    """Prints `render(result)` of each result JSON in `paths` (one text)
    and, with `write_readme`, writes it into section `kind` of the bench
    README. Returns the text."""
    texts = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            texts.append(render(json.load(f)))
    text = "\n\n".join(texts)
    print(text)
    if write_readme:
        write_section(README, kind, text)
    return text


def finish_result(result, render, kind, output="", write_readme=False):
    """Stamps the end of a measurement into `result["meta"]`, prints
    `render(result)`, writes the JSON to `output` (if given) and, with
    `write_readme`, section `kind` of the bench README."""
    finish_meta(result["meta"])
    text = render(result)
    print(text)
    if output:
        write_json(output, result)
    if write_readme:
        write_section(README, kind, text)


def update_readme(kinds=KINDS + ("train_cost_rerun",)):
    """Writes the newest result of each kind into the README sections.

    Both `bench/README.md` and the top-level `README.md` get the sections
    they have markers for.
    """
    for target in (README, TOP_README):
        if not os.path.exists(target):
            continue
        text = open(target).read()
        for kind in kinds:
            path = latest(kind)
            if path is None or f"<!-- BEGIN {kind} -->" not in text:
                continue
            body = _markdown(kind, path)
            body += (
                f"\n\n(Generated from `bench/results/"
                f"{os.path.basename(path)}`.)"
            )
            text = replace_section(text, kind, body)
        write_text(target, text)


def main():
    update_readme()
    print(f"Wrote {README}")


if __name__ == "__main__":
    main()
