r"""Localization quality of CAM, ADL and ICL in the main job's regime.

    python bench/quality_bench.py                 # main rows, 3 seeds
    python bench/quality_bench.py --ablations     # + the four ICL ablations
    python bench/quality_bench.py --write_readme  # tables from the JSON
    python bench/quality_bench.py --reevaluate --runs_dir=D --output=J
                                  # re-score J's runs from D's checkpoints

Every row is one `wsol_tf.training.run_training` of the main job's
configuration (`flags/demo.flags`, the preset of `python tools/train.py`;
every tools/train.py flag is accepted and changes all rows) with the row's
method settings and the seed, then `evaluate_model` and `part_share` on
the test split. The pretrained backbone (`--weights=synthetic`) is trained
once and shared by every row and seed, as ImageNet weights are. Before any
method is compared the bench records the test split's best centred
Gaussian and the head's share of the objects' pixels.

Rows: CAM, ADL, ICL (triplet), ICL (NT-Xent); `--ablations` adds ICL
(triplet) without the non-local blocks, without L_ca, without L_fc and
without the background drop. Columns: MaxBoxAccV2 at IoU 30 / 50 / 70 and
their mean, PxAP, Top-1 Cls, and where the CAM's mass lies (head share of
the object's mass, object share, background share), mean ± std over the
seeds, plus the paired difference (same seed) against CAM and against ADL.
Settings are selected on val (`val_maxboxaccv2` is recorded); test is
reported. The JSON is rewritten after every run, so an interrupted bench
keeps what it finished and a rerun with the same `--output` resumes.
"""

import dataclasses
import json
import os
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:  # `python bench/quality_bench.py` has bench/ on sys.path
    import make_tables
except ImportError:  # imported as bench.quality_bench (its tests)
    from bench import make_tables

from wsol_tf.cli import config_flags
from wsol_tf.cli import flagfiles

# Row name -> (label, config changes {section: {field: value}}).
ROWS = {
    "cam": ("CAM", {"model": {"method": "cam"}}),
    "adl": ("ADL", {"model": {"method": "adl"}}),
    "icl_triplet": (
        "ICL (triplet)",
        {"model": {"method": "icl"}, "loss": {"contrastive": "triplet"}},
    ),
    "icl_nt_xent": (
        "ICL (NT-Xent)",
        {"model": {"method": "icl"}, "loss": {"contrastive": "nt_xent"}},
    ),
}
ABLATIONS = {
    "icl_no_non_local": (
        "ICL (triplet), no non-local",
        {"model": {"method": "icl", "use_non_local": False}},
    ),
    "icl_no_ca": (
        "ICL, no L_ca",
        {"model": {"method": "icl"}, "loss": {"ca_weight": 0.0}},
    ),
    "icl_no_fc": (
        "ICL (triplet), no L_fc",
        {"model": {"method": "icl"}, "loss": {"fc_weight": 0.0}},
    ),
    "icl_no_bg_drop": (
        "ICL (triplet), no background drop",
        {"model": {"method": "icl", "use_background_drop": False}},
    ),
}
METRICS = (
    ("maxboxacc_30", "IoU 30"),
    ("maxboxacc_50", "IoU 50"),
    ("maxboxacc_70", "IoU 70"),
    ("maxboxaccv2", "MaxBoxAccV2"),
    ("pxap", "PxAP"),
    ("top1_cls", "Top-1 Cls"),
    ("head_of_object", "head share"),
    ("cam_on_object", "object share"),
    ("cam_on_background", "background share"),
    ("val_maxboxaccv2", "val MaxBoxAccV2"),
)

# Paired differences (same seed) against CAM and ADL, and of each ablation
# against the full ICL (triplet).
PAIRED = ("maxboxaccv2", "head_of_object", "cam_on_background")
ABLATION_PAIRED = ("maxboxaccv2", "head_of_object", "top1_cls")

FLAGS = flags.FLAGS


def define_flags():
    """The bench's own flags (defined when run as a script, so that its
    functions import without them, e.g. in tests)."""
    flags.DEFINE_integer("seeds", 3, "Seeds per row (0, 1, ...).")
    flags.DEFINE_bool("ablations", False, "Add the four ICL ablation rows.")
    flags.DEFINE_list(
        "rows", None, f"Only these rows (of {list(ROWS) + list(ABLATIONS)})."
    )
    flags.DEFINE_string(
        "output",
        None,
        "Result JSON (default bench/results/quality_<date>.json).",
    )
    flags.DEFINE_string(
        "runs_dir", "runs/quality_bench", "Where each run's model_dir goes."
    )
    flags.DEFINE_bool(
        "write_readme", False, "Only regenerate the tables from --output."
    )
    flags.DEFINE_string(
        "section",
        "quality",
        "The README section (<!-- BEGIN name -->) the tables replace; an "
        "experiment writes its own, e.g. quality_source_plumage.",
    )
    flags.DEFINE_bool(
        "reevaluate",
        False,
        "Only re-score: every run of --output from its last checkpoint in "
        "--runs_dir, in float32 (test metrics, part shares, val "
        "MaxBoxAccV2); training is not repeated.",
    )
    flags.DEFINE_integer(
        "reevaluate_test_per_class",
        None,
        "With --reevaluate: score on a test split of N images per class of "
        "the runs' synthetic set (train and val unchanged) instead of the "
        "runs' own, and measure the set's properties again on it.",
        lower_bound=1,
    )
    flags.DEFINE_list(
        "compare",
        [],
        "Only render: one table of every run of these result JSONs (their "
        "pretraining recipe and epochs beside each run) into --section.",
    )
    flags.DEFINE_list(
        "pretrain_recipe",
        [],
        "RECIPE and/or NAME=VALUE,... : a named pretraining recipe "
        "(wsol_tf.training.pretrain.RECIPES, e.g. heads8; default the "
        "shipped one) with fields of PretrainRecipe replaced, e.g. "
        "body_rate=1.0: an experiment on the stage that plays ImageNet.",
    )


def row_config(base, changes, seed, model_dir):
    """`base` with a row's changes, the seed and the run's model_dir."""
    parts = {
        name: getattr(base, name).replace(**changes.get(name, {}))
        for name in ("data", "model", "loss", "eval")
    }
    parts["train"] = base.train.replace(
        seed=seed,
        model_dir=model_dir,
        # Val once, at the last epoch: the selection split's score.
        eval_every_epochs=base.train.epochs,
        export=False,
        visualize=False,
    )
    parts["data"] = parts["data"].replace(seed=seed)
    return dataclasses.replace(base, **parts)


def pretrain_recipe(entries):
    """The named recipe (`RECIPES`; default `SOURCE`) with `NAME=VALUE`
    entries applied."""
    from wsol_tf.training import pretrain

    fields = {f.name: f for f in dataclasses.fields(pretrain.PretrainRecipe)}
    base = pretrain.SOURCE
    changes = {}
    for entry in entries:
        name, sep, value = entry.partition("=")
        if not sep and name in pretrain.RECIPES:
            base = pretrain.RECIPES[name]
            continue
        if not sep or name not in fields:
            raise ValueError(
                f"--pretrain_recipe={entry}: expected a recipe of "
                f"{sorted(pretrain.RECIPES)} or NAME=VALUE with NAME in "
                f"{sorted(fields)}"
            )
        kind = type(getattr(pretrain.RECIPES["mixed20"], name))
        try:
            changes[name] = kind(value)
        except ValueError:
            raise ValueError(
                f"--pretrain_recipe={entry}: {name} expects a {kind.__name__}"
            ) from None
    return dataclasses.replace(base, **changes)


def run_one(config):
    """Trains one row / seed; returns its test metrics and part shares."""
    from wsol_tf import training
    from wsol_tf.evaluation.part_share import part_share

    start = time.time()
    model, history, metrics = training.run_training(config, verbose=0)
    result = dict(metrics)
    # In float32, as the test metrics (run_training's final report).
    result.update(part_share(model.as_float32(), config.data))
    for key in ("val_maxboxaccv2", "val_top1_cls"):
        val = history.history.get(key)
        result[key] = float(val[-1]) if val else None
    for key in ("ca_loss", "valid_fraction", "fc_loss"):
        if key in history.history:
            result[f"last_{key}"] = float(history.history[key][-1])
    result["seconds"] = time.time() - start
    return result


def evaluate_run(model, config):
    """Test metrics, part shares and val MaxBoxAccV2 of a float32 model."""
    from wsol_tf.data import build_dataset
    from wsol_tf.evaluation.part_share import part_share
    from wsol_tf.evaluation.runner import evaluate_model

    data = config.data
    result = evaluate_model(
        model,
        build_dataset(data, data.test_split, training=False),
        config.eval,
    )
    result.update(part_share(model, data))
    val = evaluate_model(
        model,
        build_dataset(data, data.val_split, training=False),
        config.eval,
    )
    result["val_maxboxaccv2"] = val["maxboxaccv2"]
    result["val_top1_cls"] = val["top1_cls"]
    return result


def reevaluate(result, runs_dir, test_per_class=None):
    """Re-scores every run of `result` from `runs_dir/<row>_seed<seed>`.

    Loads each run's last checkpoint (its final weights, the ones the
    run's report scored) as the tools do
    (`callbacks.checkpoint.load_checkpoint`: checked, in float32) and its
    config.json, and replaces the run's test metrics, part shares and val
    MaxBoxAccV2; its training time and losses stay.
    For results whose runs were scored in the training precision, and
    (`test_per_class`) to score synthetic runs on a larger test split of
    the same set (`data.resolve.with_synthetic_test_split`); the set's
    properties (centred Gaussian, head share) are then measured again on
    that split.
    """
    from wsol_tf.callbacks.checkpoint import load_checkpoint
    from wsol_tf.config import ExperimentConfig
    from wsol_tf.data.resolve import with_synthetic_test_split

    trained_in, measured = set(), False
    for run in result["runs"]:
        model_dir = os.path.join(runs_dir, f"{run['row']}_seed{run['seed']}")
        # The run's own config (data, eval protocol), not the bench's flags.
        path = os.path.join(model_dir, "config.json")
        if not os.path.isfile(path):
            raise ValueError(
                f"{path} not found: run {run['row']} seed {run['seed']} of "
                f"the result is not in --runs_dir={runs_dir}"
            )
        with open(path) as f:
            config = ExperimentConfig.from_json(f.read())
        if test_per_class:
            config = dataclasses.replace(
                config,
                data=with_synthetic_test_split(config.data, test_per_class),
            )
            if not measured:  # one set for every run of a result
                result["dataset"] = dataset_properties(config)
                measured = True
        model = load_checkpoint(
            os.path.join(model_dir, "checkpoints", "last.keras")
        )
        trained_in.add(config.train.precision)
        before = run["maxboxaccv2"]
        run.update(evaluate_run(model, config))
        print(
            f"{run['row']} seed {run['seed']}: MaxBoxAccV2 {before:.1f} -> "
            f"{run['maxboxaccv2']:.1f} (float32)",
            flush=True,
        )
    result["reevaluated"] = {
        "utc": make_tables.now_utc().strftime("%Y-%m-%d %H:%M UTC"),
        "runs_dir": runs_dir,
        "trained_in": sorted(trained_in),
    }
    if test_per_class:
        result["reevaluated"]["test_per_class"] = test_per_class
    result["summary"] = summarize(result)
    return result


def dataset_properties(config):
    """The split's best centred Gaussian and the head's pixel share."""
    from wsol_tf.data import build_dataset
    from wsol_tf.evaluation.baselines import best_center_gaussian
    from wsol_tf.evaluation.part_share import part_share

    data = config.data
    test = build_dataset(data, data.test_split, training=False)
    gaussian = best_center_gaussian(test, data.num_classes, config.eval)
    # A map uniform on the image: its mass on the object is the object's
    # share of the pixels (head_area: the head's share of the object's).
    shares = part_share(_Uniform(), data)
    return {
        "center_gaussian": gaussian["best"],
        "center_gaussian_per_sigma": gaussian["per_sigma"],
        "head_share_of_object_pixels": shares["head_area"],
        "object_share_of_image_pixels": shares["cam_on_object"],
    }


class _Uniform:
    """A map equal on every pixel but one corner, for `part_share`."""

    def compute_cams(self, images, class_ids):
        import numpy as np

        n, h, w = len(class_ids), images.shape[1], images.shape[2]
        # Min-max normalisation maps a constant to 0; a 1-pixel corner
        # below it keeps the rest at 1.
        maps = np.ones((n, h, w), np.float32)
        maps[:, 0, 0] = 0.0
        return None, maps


def summarize(result):
    """Per-row mean / std and paired differences against CAM and ADL."""
    import numpy as np

    runs = result["runs"]
    summary = {}
    for row in result["rows"]:
        per_seed = {r["seed"]: r for r in runs if r["row"] == row}
        entry = {}
        for key, _ in METRICS:
            values = [r.get(key) for r in per_seed.values()]
            entry[key] = [v for v in values if v is not None]
        refs = [("cam", PAIRED), ("adl", PAIRED)]
        if row in ABLATIONS:  # what removing the component costs
            refs.append(("icl_triplet", ABLATION_PAIRED))
        for ref, keys in refs:
            ref_runs = {r["seed"]: r for r in runs if r["row"] == ref}
            seeds = sorted(set(per_seed) & set(ref_runs))
            if row == ref or not seeds:
                continue
            for key in keys:
                entry[f"{key}_minus_{ref}"] = [
                    per_seed[s][key] - ref_runs[s][key] for s in seeds
                ]
        summary[row] = {
            k: {
                "mean": float(np.mean(v)) if v else None,
                "std": float(np.std(v, ddof=1)) if len(v) > 1 else None,
                "n": len(v),
            }
            for k, v in entry.items()
        }
    return summary


def markdown(result):
    """The bench's tables (generated; nothing typed by hand)."""
    labels = {k: v[0] for k, v in {**ROWS, **ABLATIONS}.items()}
    runs = result["runs"]
    header = ["row"] + [name for _, name in METRICS]
    rows = []
    for row in result["rows"]:
        cells = [labels[row]]
        for key, _ in METRICS:
            values = [r.get(key) for r in runs if r["row"] == row]
            cells.append(make_tables.mean_std(values, digits=1))
        rows.append(cells)
    lines = [make_tables.md_table(header, rows)]
    diff_header = ["row", "MaxBoxAccV2 - CAM", "MaxBoxAccV2 - ADL"]
    diff_header += ["head share - ADL", "background share - ADL"]
    summary = summarize(result)  # from the runs, never a stale copy

    def cell(row, key):
        v = summary[row].get(key)
        if not v or v["mean"] is None:
            return "n/a"
        std = "" if v["std"] is None else f" ± {v['std']:.1f}"
        return f"{v['mean']:+.1f}{std}"

    diffs = [
        [labels[row]]
        + [
            cell(row, key)
            for key in (
                "maxboxaccv2_minus_cam",
                "maxboxaccv2_minus_adl",
                "head_of_object_minus_adl",
                "cam_on_background_minus_adl",
            )
        ]
        for row in result["rows"]
    ]
    lines += ["", "Paired differences (same seed), mean ± std:", ""]
    lines.append(make_tables.md_table(diff_header, diffs))
    ablations = [
        row
        for row in result["rows"]
        if row in ABLATIONS and "maxboxaccv2_minus_icl_triplet" in summary[row]
    ]
    if ablations:
        header = ["ablation", "MaxBoxAccV2", "head share", "Top-1 Cls"]
        table = [
            [labels[row]]
            + [cell(row, f"{k}_minus_icl_triplet") for k in ABLATION_PAIRED]
            for row in ablations
        ]
        lines += [
            "",
            "Each ablation minus the full ICL (triplet), same seed, mean ± "
            "std:",
            "",
            make_tables.md_table(header, table),
        ]
    props = result.get("dataset") or {}
    if props:
        g = props["center_gaussian"]
        lines += [
            "",
            f"Test split: best centred Gaussian MaxBoxAccV2 "
            f"{g['maxboxaccv2']:.1f} (IoU 30 / 50 / 70: "
            f"{g['maxboxacc_30']:.1f} / {g['maxboxacc_50']:.1f} / "
            f"{g['maxboxacc_70']:.1f}; sigma {g['sigma_fraction']:g} x side)"
            f", PxAP {g.get('pxap', float('nan')):.1f}; the head is "
            f"{props['head_share_of_object_pixels']:.1f} % of the objects' "
            "pixels.",
        ]
        cam = summary.get("cam", {}).get("head_of_object", {})
        if cam.get("mean") is not None:
            ratio = cam["mean"] / props["head_share_of_object_pixels"]
            lines.append(
                f"CAM's part failure: its head share {cam['mean']:.1f} % is "
                f"{ratio:.1f}x the head's pixel share (goal: >= 2x)."
            )
    seconds = sum(r.get("seconds", 0) for r in runs)
    lines += [
        "",
        f"{len(runs)} runs, {seconds / 60:.0f} min of training and "
        f"evaluation; pretraining {result.get('pretrain_seconds', 0):.0f} s "
        "(once).",
        "",
        make_tables.provenance(result["meta"]),
    ]
    return "\n".join(lines)


def main(argv):
    del argv
    import json

    flagfiles.quiet_logging()
    output = FLAGS.output or make_tables.result_path("quality", "json")
    if FLAGS.write_readme:
        with open(output) as f:
            result = json.load(f)
        _write_tables(result, output, FLAGS.section)
        return
    if FLAGS.reevaluate:
        with open(output) as f:
            result = json.load(f)
        try:
            result = reevaluate(
                result, FLAGS.runs_dir, FLAGS.reevaluate_test_per_class
            )
        except ValueError as e:  # a run missing, or not a synthetic set
            raise SystemExit(f"quality_bench --reevaluate: {e}") from None
        make_tables.write_json(output, result)
        _write_tables(result, output, FLAGS.section)
        return
    if FLAGS.compare:
        results = []
        for path in FLAGS.compare:
            with open(path) as f:
                results.append((path, json.load(f)))
        body = compare_markdown(results)
        print(body)
        make_tables.write_section(make_tables.README, FLAGS.section, body)
        return
    from wsol_tf import training

    rows = list(ROWS) + (list(ABLATIONS) if FLAGS.ablations else [])
    if FLAGS.rows:
        rows = [r for r in FLAGS.rows if r in {**ROWS, **ABLATIONS}]
    changes = {**ROWS, **ABLATIONS}
    base = config_flags.config_from_flags()
    if FLAGS.pretrain_recipe:
        from wsol_tf.training import pretrain

        # Read by ensure_synthetic_weights at call time (its cache key too).
        pretrain.SOURCE = pretrain_recipe(FLAGS.pretrain_recipe)
    start = time.time()
    base = training.resolve_experiment(base)  # pretrains once if needed
    result = {"meta": make_tables.machine_info(), "rows": rows, "runs": []}
    if os.path.exists(output):
        with open(output) as f:
            previous = json.load(f)
        # Compared as JSON (tuples come back as lists).
        if previous.get("base") == json.loads(json.dumps(base.to_dict())):
            result["runs"] = previous["runs"]
            result["dataset"] = previous.get("dataset")
    result["base"] = base.to_dict()
    if FLAGS.pretrain_recipe:
        result["pretrain_recipe"] = list(FLAGS.pretrain_recipe)
    result["pretrain_seconds"] = time.time() - start
    if not result.get("dataset"):
        result["dataset"] = dataset_properties(base)
        make_tables.write_json(output, result)
    done = {(r["row"], r["seed"]) for r in result["runs"]}
    for seed in range(FLAGS.seeds):
        for row in rows:
            if (row, seed) in done:
                continue
            model_dir = os.path.join(FLAGS.runs_dir, f"{row}_seed{seed}")
            config = row_config(base, changes[row][1], seed, model_dir)
            metrics = run_one(config)
            result["runs"].append({"row": row, "seed": seed, **metrics})
            print(
                f"{row} seed {seed}: MaxBoxAccV2 {metrics['maxboxaccv2']:.1f}"
                f", top-1 {metrics['top1_cls']:.1f}, head share "
                f"{metrics['head_of_object']:.1f} ({metrics['seconds']:.0f} "
                "s)",
                flush=True,
            )
            result["summary"] = summarize(result)
            make_tables.write_json(output, result)
    make_tables.finish_meta(result["meta"])
    result["summary"] = summarize(result)
    make_tables.write_json(output, result)
    _write_tables(result, output, FLAGS.section)


def differing_settings(bases):
    """Per base config (dicts of sections), `"name=value"` of every setting
    that differs between them, except learning rate and epochs (columns of
    their own) and paths / files (they differ with every run or cache)."""
    flat = [
        {
            f"{section}.{name}": value
            for section, fields in base.items()
            if isinstance(fields, dict)
            for name, value in fields.items()
        }
        for base in bases
    ]
    keys = sorted({k for f in flat for k in f})
    keys = [
        k
        for k in keys
        if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1
        and not k.endswith(("learning_rate", ".epochs"))
        and not any(w in k for w in ("dir", "root", "path"))
        and not any("/" in str(f.get(k)) for f in flat)  # a file
    ]
    return [
        ", ".join(f"{k.split('.', 1)[1]}={f.get(k)}" for k in keys) or "-"
        for f in flat
    ]


def compare_markdown(results):
    """One row per run of several results (`(path, result)` pairs)."""
    labels = {k: v[0] for k, v in {**ROWS, **ABLATIONS}.items()}
    header = ["result", "source recipe", "lr", "epochs", "other settings"]
    compared = METRICS + (("val_top1_cls", "val Top-1 Cls"),)
    header += ["row", "seed"] + [name for _, name in compared]
    others = differing_settings([result["base"] for _, result in results])
    rows = []
    for (path, result), other in zip(results, others):
        # Without --pretrain_recipe: the weights file the runs started
        # from (its name holds the digest of its recipe and settings).
        weights = result["base"].get("model", {}).get("weights") or "default"
        recipe = ", ".join(result.get("pretrain_recipe") or [])
        recipe = recipe or os.path.basename(weights)
        train = result["base"]["train"]
        lr, epochs = train.get("learning_rate", "n/a"), train["epochs"]
        order = list(labels)
        runs = sorted(
            result["runs"], key=lambda r: (r["seed"], order.index(r["row"]))
        )
        for run in runs:
            cells = [os.path.basename(path), recipe, lr, epochs, other]
            cells += [labels[run["row"]], run["seed"]]
            cells += [
                "n/a" if run.get(k) is None else f"{run[k]:.1f}"
                for k, _ in compared
            ]
            rows.append(cells)
    return make_tables.md_table(header, rows)


def _write_tables(result, output, section="quality"):
    body = markdown(result)
    if result.get("pretrain_recipe"):
        body += (
            "\n\nPretraining recipe changed: "
            + ", ".join(result["pretrain_recipe"])
            + " (`--pretrain_recipe`)."
        )
    if result.get("reevaluated"):
        again = result["reevaluated"]
        body += (
            f"\n\nRe-scored in float32 from the runs' last checkpoints on "
            f"{again['utc']} (`--reevaluate`); the runs trained in "
            f"{', '.join(again['trained_in'])}."
        )
        if again.get("test_per_class"):
            body += (
                f" Scored on a test split of {again['test_per_class']} "
                "images per class of the same set "
                "(`--reevaluate_test_per_class`; train and val unchanged)."
            )
    body += f"\n\n(Generated from `bench/results/{os.path.basename(output)}`.)"
    print(body)
    make_tables.write_text(output[: -len(".json")] + ".md", body)
    if not in_results_dir(output):
        # The tables cite bench/results/<name>: an experiment written
        # elsewhere must not replace the committed tables.
        print(
            f"README tables not rewritten: {output} is not in "
            f"{make_tables.RESULTS_DIR} (copy it there and rerun with "
            "--write_readme)."
        )
        return
    for target in (make_tables.README, make_tables.TOP_README):
        make_tables.write_section(target, section, body, append=False)


def in_results_dir(path):
    """Whether `path` lies directly in bench/results/ (what tables cite)."""
    return os.path.dirname(os.path.abspath(path)) == os.path.abspath(
        make_tables.RESULTS_DIR
    )


if __name__ == "__main__":
    flags.adopt_module_key_flags(config_flags)
    define_flags()
    app.run(
        main,
        flags_parser=lambda argv: flagfiles.parse_flags(
            argv, preset="flags/demo.flags"
        ),
    )
