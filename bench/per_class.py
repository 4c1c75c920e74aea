"""Per-class localization of trained runs: which classes are boxed on the
object and which on their most discriminative part.

MaxBoxAcc at IoU 30 / 50 / 70, MaxBoxAccV2 and Top-1 Cls of each class's
images alone (each class with its own best CAM threshold, as if it were
the whole split), per run, then mean ± std over the runs:

    python bench/per_class.py --runs=DIR[,DIR...] --split=val \
        --output=bench/results/per_class.json [--write_readme]
    python bench/per_class.py --from_json=A.json,B.json --write_readme

A run is a model_dir of `tools/train.py` or `bench/quality_bench.py`; its
config.json gives the dataset and the protocol.
"""

import os

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:  # `python bench/per_class.py` has bench/ on sys.path already
    import make_tables  # noqa: E402
except ImportError:  # imported as bench.per_class
    from bench import make_tables  # noqa: E402

FLAGS = flags.FLAGS
KIND = "per_class"
KEYS = (
    ("maxboxacc_30", "IoU 30"),
    ("maxboxacc_50", "IoU 50"),
    ("maxboxacc_70", "IoU 70"),
    ("maxboxaccv2", "MaxBoxAccV2"),
    ("top1_cls", "Top-1 Cls"),
)


def define_flags():
    flags.DEFINE_list("runs", [], "Trained model_dirs.")
    flags.DEFINE_string("split", "val", "Split to score (val or test).")
    flags.DEFINE_string("output", "", "Result JSON.")
    flags.DEFINE_list(
        "from_json", [], "Render these result JSONs only (no measuring)."
    )
    flags.DEFINE_bool(
        "write_readme", False, "Rewrite the per-class section of bench/README."
    )


def per_class_metrics(model_dir, split):
    """`{class: metrics}` of one trained run on `split`."""
    import tensorflow as tf

    from wsol_tf.cli import trained
    from wsol_tf.evaluation.runner import evaluate_model

    model, config, _, _, split, dataset = trained.load_trained_split(
        model_dir, "last", split
    )
    out = {"label": run_label(config), "classes": {}}
    split_images = dataset.unbatch().cache()  # decoded once, not per class
    for c in range(config.data.num_classes):
        images = split_images.filter(lambda e, c=c: tf.equal(e["labels"], c))
        metrics = evaluate_model(
            model, images.batch(config.data.eval_batch_size), config.eval
        )
        out["classes"][str(c)] = {k: float(metrics[k]) for k, _ in KEYS}
        print(
            f"{os.path.basename(model_dir)} class {c}: "
            + ", ".join(f"{t} {metrics[k]:.1f}" for k, t in KEYS),
            flush=True,
        )
    return out


def run_label(config):
    """ "ICL (triplet)", "CAM", ... of a run's `ExperimentConfig`."""
    if config.model.method == "icl":
        return f"ICL ({config.loss.contrastive})"
    return config.model.method.upper()


def render(result):
    runs = result["runs"]
    classes = sorted({c for r in runs for c in r["classes"]}, key=int)
    rows = []
    labels = sorted({r["label"] for r in runs})
    for c in classes:
        cells = [
            make_tables.mean_std(
                [r["classes"][c][k] for r in runs if c in r["classes"]],
                digits=1,
            )
            for k, _ in KEYS
        ]
        rows.append([c, *cells])
    header = ["class", *(t for _, t in KEYS)]
    names = ", ".join(make_tables.portable(r["run"]) for r in runs)
    return (
        f"{' / '.join(labels)}, {result['split']} split, mean ± std over "
        f"{len(runs)} runs ({names}); each class with its own best CAM "
        "threshold.\n\n"
        + make_tables.md_table(header, rows)
        + "\n\n"
        + make_tables.provenance(result["meta"])
    )


def main(argv):
    del argv
    if FLAGS.from_json:
        make_tables.render_json_files(
            FLAGS.from_json, render, KIND, FLAGS.write_readme
        )
        return
    if not FLAGS.runs:
        raise app.UsageError("--runs: expected one or more model_dirs.")
    result = {
        "meta": make_tables.machine_info(),
        "split": FLAGS.split,
        "runs": [
            {"run": run, **per_class_metrics(run, FLAGS.split)}
            for run in FLAGS.runs
        ],
    }
    make_tables.finish_result(
        result, render, KIND, FLAGS.output, FLAGS.write_readme
    )


if __name__ == "__main__":
    define_flags()
    app.run(main)
