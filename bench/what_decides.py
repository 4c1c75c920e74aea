"""What each class is recognized by: its head, or the rest of the bird.

For every test image of a synthetic "birds" set, three inputs: the image
as drawn; the head painted over with the mean colour of the bird's other
parts ("no head"); the rest of the bird painted over with the mean colour
of the background ("head only"). Per class, the Top-1 of a trained run on
each input, and, with --source, what the synthetic pretraining's source
classifier (the weights file of the run's `--weights=synthetic`, with its
own `fc`) answers: the source classes it takes each class for, each with
its kind of evidence.

    python bench/what_decides.py --runs=DIR[,DIR...] --source \
        --output=bench/results/what_decides.json [--write_readme]
    python bench/what_decides.py --from_json=A.json --write_readme

A class recognized from its head alone (Top-1 kept with "head only", lost
with "no head") is the one whose CAM the head wins.
"""

import collections
import json
import os

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:  # `python bench/what_decides.py` has bench/ on sys.path already
    import make_tables  # noqa: E402
except ImportError:  # imported as bench.what_decides
    from bench import make_tables  # noqa: E402

FLAGS = flags.FLAGS
KIND = "what_decides"
INPUTS = ("as drawn", "no head", "head only")


def define_flags():
    flags.DEFINE_list("runs", [], "Trained model_dirs (one dataset).")
    flags.DEFINE_string("split", "test", "Split to score.")
    flags.DEFINE_bool(
        "source",
        False,
        "Also the source classifier of the runs' synthetic weights file.",
    )
    flags.DEFINE_string("output", "", "Result JSON.")
    flags.DEFINE_list("from_json", [], "Render these result JSONs only.")
    flags.DEFINE_bool(
        "write_readme", False, "Rewrite this section of bench/README."
    )


def painted_inputs(image, part_labels):
    """(no head, head only) float32 copies of `image` [H, W, 3] uint8;
    `part_labels` [H, W] (0 background, 1 head, >= 2 other parts)."""
    import cv2
    import numpy as np

    image = image.astype(np.float32)
    kernel = np.ones((5, 5), np.uint8)
    head = cv2.dilate((part_labels == 1).astype(np.uint8), kernel) > 0
    bird = cv2.dilate((part_labels > 0).astype(np.uint8), kernel[:3, :3]) > 0
    no_head = image.copy()
    no_head[head] = image[(part_labels >= 2) & ~head].mean(0)
    head_only = image.copy()
    head_only[bird & ~head] = image[~bird].mean(0)
    return no_head, head_only


def split_inputs(data_config, split, size):
    """Labels [N] and {input name: float32 [N, size, size, 3] (0-255)}."""
    import numpy as np

    from wsol_tf.data import read_metadata
    from wsol_tf.data import synthetic
    from wsol_tf.data.image_ops import read_image
    from wsol_tf.data.image_ops import resize_image

    meta = read_metadata(
        data_config.metadata_root, split, data_config.data_root
    )
    out = {name: [] for name in INPUTS}
    labels = [meta.labels[i] for i in meta.image_ids]
    for image_id, label in zip(meta.image_ids, labels):
        ex = synthetic.render_from_image_id(
            data_config.data_root, split, image_id, label
        )
        path = os.path.join(data_config.data_root, image_id)
        drawn = np.asarray(read_image(path))
        images = (drawn, *painted_inputs(drawn, ex.part_labels.max(0)))
        for name, image in zip(INPUTS, images):
            out[name].append(np.asarray(resize_image(image, size), np.float32))
    return np.asarray(labels), {k: np.stack(v) for k, v in out.items()}


def _logits(model, images, normalization):
    import numpy as np
    import tensorflow as tf

    from wsol_tf.data.image_ops import normalize_images

    x = normalize_images(tf.constant(images, tf.float32), normalization)
    return np.concatenate(
        [
            np.asarray(model.compute_cams(x[i : i + 64])[0])
            for i in range(0, len(images), 64)
        ]
    )


def run_top1(model, labels, inputs, normalization):
    """{input: {class: Top-1 %}}."""
    import numpy as np

    out = {}
    for name, images in inputs.items():
        pred = _logits(model, images, normalization).argmax(-1)
        out[name] = {
            str(c): round(100.0 * float(np.mean(pred[labels == c] == c)), 1)
            for c in sorted(set(labels.tolist()))
        }
    return out


def source_answers(config, labels, inputs, top=3):
    """{input: {class: [[source generator class, kind, images], ...]}} of
    the source classifier of `config.model.weights`."""
    from wsol_tf.training import pretrain

    with open(pretrain.record_path(config.model.weights)) as f:
        record = json.load(f)
    recipe = pretrain.RECIPES[record["recipe_name"]]
    model = pretrain.load_source_model(
        config.model.weights, config.model, config.data, recipe
    )
    out = {}
    for name, images in inputs.items():
        pred = _logits(model, images, config.data.normalization).argmax(-1)
        out[name] = {}
        for c in sorted(set(labels.tolist())):
            looks = pred[labels == c] + recipe.class_offset
            counts = collections.Counter(looks.tolist()).most_common(top)
            out[name][str(c)] = [
                [int(look), recipe.evidence_kind(int(look)), n]
                for look, n in counts
            ]
    return {"recipe": record["recipe_name"], "answers": out}


def render(result):
    runs = result["runs"]
    classes = sorted(runs[0]["top1"][INPUTS[0]], key=int)
    rows = []
    for c in classes:
        rows.append(
            [
                c,
                *(
                    make_tables.mean_std(
                        [r["top1"][name][c] for r in runs], digits=1
                    )
                    for name in INPUTS
                ),
            ]
        )
    names = ", ".join(make_tables.portable(r["run"]) for r in runs)
    text = (
        f"Top-1 Cls (%) per class, {result['split']} split, mean ± std over "
        f"{len(runs)} runs ({names}):\n\n"
        + make_tables.md_table(["class", *INPUTS], rows)
    )
    source = result.get("source")
    if source:
        rows = []
        for c in classes:
            rows.append(
                [
                    c,
                    *(
                        "; ".join(
                            f"{look} ({kind}) x{n}"
                            for look, kind, n in source["answers"][name][c]
                        )
                        for name in INPUTS
                    ),
                ]
            )
        text += (
            f"\n\nThe source classifier of the weights (`{source['recipe']}`)"
            " on the same images: its three most frequent answers per class "
            "(source generator class, its kind of evidence, images):\n\n"
            + make_tables.md_table(["class", *INPUTS], rows)
        )
    return text + "\n\n" + make_tables.provenance(result["meta"])


def main(argv):
    del argv
    if FLAGS.from_json:
        make_tables.render_json_files(
            FLAGS.from_json, render, KIND, FLAGS.write_readme
        )
        return
    if not FLAGS.runs:
        raise app.UsageError("--runs: expected one or more model_dirs.")
    from wsol_tf import training
    from wsol_tf.cli import trained

    result = {"meta": make_tables.machine_info(), "split": FLAGS.split}
    result["runs"], inputs = [], None
    for run in FLAGS.runs:
        model, config, _ = trained.load_trained(run, "last")
        config = training.resolve_experiment(config, trained=True)
        if inputs is None:
            labels, inputs = split_inputs(
                config.data, FLAGS.split, config.data.eval_image_size
            )
            if FLAGS.source:
                result["source"] = source_answers(config, labels, inputs)
        top1 = run_top1(model, labels, inputs, config.data.normalization)
        result["runs"].append({"run": run, "top1": top1})
        print(run, json.dumps(top1), flush=True)
    make_tables.finish_result(
        result, render, KIND, FLAGS.output, FLAGS.write_readme
    )


if __name__ == "__main__":
    define_flags()
    app.run(main)
