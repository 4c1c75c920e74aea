r"""Report of one `tools/tune.py` search against the defaults it started from.

    python tools/tune.py --flagfile=flags/demo.flags \
        --model_dir=runs/tune_icl --max_trials=16
    python bench/search_report.py --search_dir=runs/tune_icl \
        --quality=bench/results/quality_2026-11-29.json

Reads the search directory (`search.json`, `trials.json`, `best_test.json`)
and a quality-bench result JSON whose base configuration is the search's
base (the same regime); the bench's row of the searched method at the
defaults gives the defaults' val and test scores. Writes
bench/results/search_<method>_<date>.json and the section
`search_<method>` of bench/README.md: every trial, the best trial's
settings beside the defaults (how far apart: decades for log ranges,
fraction of the range for uniform ones), and val / test of both.
"""

import json
import math
import os

from absl import app
from absl import flags

try:  # run as a script: bench/ is sys.path[0]
    import make_tables
except ImportError:  # imported as bench.search_report (its tests)
    from bench import make_tables

FLAGS = flags.FLAGS
# The quality bench's row holding the defaults of each (method, loss).
DEFAULT_ROWS = {
    ("icl", "triplet"): "icl_triplet",
    ("icl", "nt_xent"): "icl_nt_xent",
    ("adl", "none"): "adl",
    ("cam", "none"): "cam",
}
# Run-specific settings: not part of the regime compared.
RUN_SETTINGS = {"model_dir", "seed", "eval_every_epochs", "export", "visualize"}
# Filled in by resolve_experiment (the quality bench records them resolved,
# a search's base unresolved: "synthetic", "auto", "", None).
RESOLVED_SETTINGS = {
    "data_root",
    "metadata_root",
    "mask_metadata_root",
    "normalization",
    "num_classes",
    "weights",
}


def define_flags():
    flags.DEFINE_string("search_dir", None, "tools/tune.py --model_dir.")
    flags.DEFINE_string(
        "quality", None, "quality_bench result JSON of the same regime."
    )
    flags.DEFINE_string(
        "output",
        None,
        "Result JSON (default bench/results/search_<method>_<date>.json).",
    )
    flags.DEFINE_string(
        "search_command", None, "The tools/tune.py command line (reported)."
    )
    flags.DEFINE_string(
        "section",
        None,
        "bench/README section to replace (default search_<method>).",
    )
    flags.DEFINE_bool(
        "write_readme", False, "Only regenerate the section from --output."
    )


def _read(path):
    with open(path) as f:
        return json.load(f)


def distance(range_spec, default, best):
    """How far `best` is from `default` in the searched range.

    Log ranges: signed decades (log10(best / default)); uniform ranges:
    signed fraction of the range; choices: "same" or "other".
    """
    kind = range_spec["kind"]
    if kind == "choice":
        return "same" if best == default else "other"
    if kind == "log":
        return f"{math.log10(best / default):+.2f} decades"
    span = range_spec["high"] - range_spec["low"]
    return f"{(best - default) / span:+.2f} of the range"


def _flat(config):
    return {k: v for part in config.values() for k, v in part.items()}


def regime_differences(search_base, quality_base):
    """Settings (outside RUN_SETTINGS) where the two base configs differ."""
    a, b = _flat(search_base), _flat(quality_base)
    return sorted(
        k
        for k in set(a) | set(b)
        if k not in RUN_SETTINGS | RESOLVED_SETTINGS and a.get(k) != b.get(k)
    )


def _typed(trial, space):
    """KerasTuner stores a bool choice as 0 / 1: back to bool."""
    values = dict(trial["values"])
    for name, spec in space.items():
        choices = spec.get("values") or []
        if (
            choices
            and isinstance(choices[0], bool)
            and values[name] is not None
        ):
            values[name] = bool(values[name])
    return {**trial, "values": values}


def _resolved(base, name, value):
    """A None (per-architecture) default as the run used it."""
    if value is not None:
        return value
    from wsol_tf.config import ExperimentConfig

    config = ExperimentConfig.from_dict(base)
    for section in ("data", "model", "loss", "train", "eval"):
        part = getattr(config, section)
        if hasattr(part, f"resolved_{name}"):
            return getattr(part, f"resolved_{name}")()
    raise ValueError(f"{name}: no default value and no resolved_{name}()")


def collect(search_dir, quality_path, search_command=None):
    search = _read(os.path.join(search_dir, "search.json"))
    trials = [
        _typed(t, search["space"])
        for t in _read(os.path.join(search_dir, "trials.json"))
    ]
    best_test = _read(os.path.join(search_dir, "best_test.json"))
    quality = _read(quality_path)
    base = search["base_config"]
    flat = _flat(base)
    method = base["model"]["method"]
    loss = base["loss"]["contrastive"] if method == "icl" else "none"
    row = DEFAULT_ROWS[(method, loss)]
    # Compared as JSON (the quality JSON's base went through to_dict too).
    differs = regime_differences(base, quality["base"])
    default_runs = [r for r in quality["runs"] if r["row"] == row]
    completed = [t for t in trials if t["status"] == "COMPLETED"]
    best = max(completed, key=lambda t: (t["score"], -int(t["trial_id"])))
    names = list(search["space"])
    flat = {n: _resolved(base, n, flat[n]) for n in names}
    settings = [
        {
            "name": n,
            "range": search["space"][n],
            "default": flat[n],
            "best": best["values"][n],
            "distance": distance(
                search["space"][n], flat[n], best["values"][n]
            ),
        }
        for n in names
    ]
    return {
        "meta": make_tables.machine_info(),
        "method": method,
        "contrastive": loss,
        "objective": search["objective"],
        "search_dir": search_dir,
        "search_command": search_command,
        "tuner": search["tuner"],
        "trials": trials,
        "best": best,
        "best_test": best_test["metrics"],
        "settings": settings,
        "defaults": {
            "quality": quality_path,
            "row": row,
            "regime_differences": differs,
            "runs": [
                {
                    "seed": r["seed"],
                    "val_maxboxaccv2": r.get("val_maxboxaccv2"),
                    "test": {
                        k: r[k]
                        for k in (
                            "maxboxaccv2",
                            "maxboxacc_30",
                            "maxboxacc_50",
                            "maxboxacc_70",
                            "pxap",
                            "top1_cls",
                        )
                    },
                }
                for r in default_runs
            ],
        },
    }


def _value(v):
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _range(spec):
    if spec["kind"] == "choice":
        return "{" + ", ".join(_value(v) for v in spec["values"]) + "}"
    name = "LogUniform" if spec["kind"] == "log" else "U"
    return f"{name}[{_value(spec['low'])}, {_value(spec['high'])}]"


def markdown(result):
    names = [s["name"] for s in result["settings"]]
    trials = result["trials"]
    header = ["trial", "status", "val MaxBoxAccV2", "min"] + names
    rows = []
    for t in trials:
        score = "" if t["score"] is None else f"{t['score']:.1f}"
        minutes = "" if t["seconds"] is None else f"{t['seconds'] / 60:.1f}"
        rows.append(
            [t["trial_id"], t["status"], score, minutes]
            + [_value(t["values"][n]) for n in names]
        )
    best = result["best"]
    lines = [make_tables.md_table(header, rows), ""]
    setting_rows = [
        [
            s["name"],
            _range(s["range"]),
            _value(s["default"]),
            _value(s["best"]),
            s["distance"],
        ]
        for s in result["settings"]
    ]
    lines.append(
        make_tables.md_table(
            [
                "setting",
                "range",
                "default",
                f"best (trial {best['trial_id']})",
                "best vs default",
            ],
            setting_rows,
        )
    )
    d = result["defaults"]
    runs = d["runs"]
    seed0 = [r for r in runs if r["seed"] == 0]
    test = result["best_test"]

    def ms(values):
        return make_tables.mean_std(values, digits=1)

    score_rows = [
        [
            f"defaults (quality bench row {d['row']}, seeds "
            f"{','.join(str(r['seed']) for r in runs)})",
            ms([r["val_maxboxaccv2"] for r in runs]),
            ms([r["test"]["maxboxaccv2"] for r in runs]),
            ms([r["test"]["pxap"] for r in runs]),
            ms([r["test"]["top1_cls"] for r in runs]),
        ],
    ]
    if seed0:
        r = seed0[0]
        score_rows.append(
            [
                "defaults, seed 0 (the trials' seed)",
                f"{r['val_maxboxaccv2']:.1f}",
                f"{r['test']['maxboxaccv2']:.1f}",
                f"{r['test']['pxap']:.1f}",
                f"{r['test']['top1_cls']:.1f}",
            ]
        )
    score_rows.append(
        [
            f"best trial {best['trial_id']} (seed 0)",
            f"{best['score']:.1f}",
            f"{test['maxboxaccv2']:.1f}",
            f"{test['pxap']:.1f}",
            f"{test['top1_cls']:.1f}",
        ]
    )
    lines += [
        "",
        make_tables.md_table(
            [
                "settings",
                "val MaxBoxAccV2",
                "test MaxBoxAccV2",
                "test PxAP",
                "test Top-1 Cls",
            ],
            score_rows,
        ),
    ]
    done = [t for t in trials if t["status"] == "COMPLETED"]
    failed = [t for t in trials if t["status"] != "COMPLETED"]
    minutes = sum(t["seconds"] or 0 for t in trials) / 60
    lines += [
        "",
        f"{len(trials)} trials ({result['tuner']} search), {len(done)} "
        f"completed, {len(failed)} failed (diverged); {minutes:.0f} min of "
        f"trials. Objective: {result['objective']} at the last epoch, val "
        "split. Test: the best trial's last checkpoint only, evaluated once "
        "after the selection.",
    ]
    if d["regime_differences"]:
        lines.append(
            "Settings where the search's base differs from the quality "
            f"bench's: {', '.join(d['regime_differences'])}."
        )
    else:
        lines.append(
            "The search's base settings are the quality bench's (the same "
            "regime): the defaults' scores above are that bench's row."
        )
    if result.get("search_command"):
        lines += ["", f"Search: `{result['search_command']}`"]
    lines += ["", make_tables.provenance(result["meta"])]
    return "\n".join(lines)


def write(result, output, section=None):
    make_tables.write_json(output, result)
    text = markdown(result)
    make_tables.write_section(
        make_tables.README,
        section or f"search_{result['method']}",
        text + f"\n\n(Generated from `{_rel(output)}`.)",
    )
    print(text)


def _rel(path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.relpath(os.path.abspath(path), root)


def main(argv):
    del argv
    if FLAGS.write_readme:
        result = _read(FLAGS.output)
        make_tables.finish_meta(result["meta"])
        write(result, FLAGS.output, FLAGS.section)
        return
    result = collect(FLAGS.search_dir, FLAGS.quality, FLAGS.search_command)
    make_tables.finish_meta(result["meta"])
    output = FLAGS.output or make_tables.result_path(
        f"search_{result['method']}", "json"
    )
    write(result, output, FLAGS.section)


if __name__ == "__main__":
    define_flags()
    app.run(main)
