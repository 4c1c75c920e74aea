"""How graded is the class evidence of the default ("birds") synthetic set?

Trains one small CNN from scratch per view of the images and reports its
test accuracy:

- full: the image as generated;
- head only: head pixels kept, everything else neutral grey;
- body only: body, wings and tail kept; the head (a disc over it, so its
  shape does not show as a hole) and the background grey;
- no head: the image with the head disc grey (what is left once the most
  discriminative part is erased, as ADL / ICL do);
- background only: each object's box (+2 px) grey.

Expected shape: head only ~100 %; body only clearly above chance, well
below head only (Bayes 71.2 % at 4 classes, body_rate 0.6: three
independent cues, `bayes_accuracy`); background only
near the Bayes rate of the context band (0.4 at context_rate 0.2; chance
0.25). Also reports the set's properties (head share of the object, objects
per image, object area share, box sizes) over every image of the default
set. Results are written to --output after each view.

    python bench/synthetic_probe.py            # ~5-8 min on 2 cores
"""

import itertools
import json
import os
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from wsol_tf.data import synthetic  # noqa: E402
from wsol_tf.data import synthetic_birds  # noqa: E402

try:  # `python bench/synthetic_probe.py` has bench/ on sys.path already
    import make_tables  # noqa: E402
except ImportError:  # imported as bench.synthetic_probe (its tests)
    from bench import make_tables  # noqa: E402

FLAGS = flags.FLAGS


def define_flags():
    """The probe's flags (defined when run as a script, so that its
    functions import without them, e.g. in tests)."""
    flags.DEFINE_string(
        "output",
        None,
        "Results JSON, rewritten after each view (default: "
        "bench/results/synthetic_probe_<date>.json) with its .md beside it.",
    )
    flags.DEFINE_integer("train_per_class", 250, "Probe train images.")
    flags.DEFINE_integer("test_per_class", 100, "Probe test images.")
    flags.DEFINE_integer("input_size", 64, "CNN input side (px).")
    flags.DEFINE_integer("steps", 300, "Adam steps per view (~).")
    flags.DEFINE_list(
        "views",
        ["head_only", "body_only", "background_only", "no_head", "full"],
        "Views to train on.",
    )
    flags.DEFINE_list(
        "write_readme",
        [],
        "Instead of running: rewrite bench/README.md's synthetic_probe "
        "section from these result JSONs (the first gives the properties).",
    )


_NUM_CLASSES = 4  # the DataConfig default
_SEED = 0
_NEUTRAL = 128
_OBJECT_PARTS = (2, 3, 4)  # body, wings, tail in PART_NAMES


def bayes_accuracy(rate, cues, num_classes):
    """Accuracy of the Bayes classifier on `cues` independent class draws.

    Each cue is the class with probability `rate`, else a uniformly drawn
    other class (as the body, wings and tail of the birds style).
    """
    k = num_classes
    accuracy = 0.0
    for obs in itertools.product(range(k), repeat=cues):
        likelihood = [
            np.prod([rate if o == c else (1 - rate) / (k - 1) for o in obs])
            for c in range(k)
        ]
        accuracy += max(likelihood) / k
    return 100.0 * accuracy


def _head_disc(labels):
    """A disc covering each head, sized from its body, not its shape."""
    disc = np.zeros(labels.shape[1:], bool)
    yy, xx = np.mgrid[0 : labels.shape[1], 0 : labels.shape[2]]
    high = synthetic_birds.HEAD_FRACTION[1]
    for lab in labels:
        ys, xs = np.nonzero(lab == 1)
        cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
        ab = np.isin(lab, (2, 3)).sum() / np.pi  # body ellipse ~ pi a b
        radius = 1.35 * np.sqrt(high * ab) + 1
        disc |= (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    return disc


def _views(ex):
    """dict view name -> uint8 RGB image."""
    labels = ex.part_labels
    union = labels.max(axis=0)
    head = _head_disc(labels)
    boxes = np.zeros(union.shape, bool)
    for x0, y0, x1, y1 in ex.boxes:
        boxes[max(0, y0 - 2) : y1 + 3, max(0, x0 - 2) : x1 + 3] = True

    def keep(mask):
        out = np.full_like(ex.image, _NEUTRAL)
        out[mask] = ex.image[mask]
        return out

    return dict(
        full=ex.image,
        head_only=keep(union == 1),
        body_only=keep(np.isin(union, _OBJECT_PARTS) & ~head),
        no_head=keep(~head),
        background_only=keep(~boxes),
    )


def _render_split(split, per_class, size):
    """Views [V][N, size, size, 3] float32 and labels [N]."""
    views, labels = {}, []
    for index in range(per_class * _NUM_CLASSES):
        label = index % _NUM_CLASSES
        ex = synthetic.render_birds_image(
            _SEED,
            split,
            index,
            label,
            num_classes=_NUM_CLASSES,
            image_size=128,
        )
        for name, image in _views(ex).items():
            small = cv2.resize(
                image, (size, size), interpolation=cv2.INTER_AREA
            )
            views.setdefault(name, []).append(small)
        labels.append(label)
    return {k: np.stack(v).astype(np.float32) for k, v in views.items()}, (
        np.array(labels)
    )


def _train_and_test(x_train, y_train, x_test, y_test, steps, seed):
    import keras

    keras.utils.set_random_seed(seed)
    layers = [keras.Input(x_train.shape[1:]), keras.layers.Rescaling(1 / 255)]
    for width in (16, 32, 64, 96):
        layers += [
            keras.layers.Conv2D(width, 3, padding="same", use_bias=False),
            keras.layers.BatchNormalization(momentum=0.9),
            keras.layers.ReLU(),
            keras.layers.MaxPooling2D(),
        ]
    layers += [
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(_NUM_CLASSES),
    ]
    model = keras.Sequential(layers)
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    batch = 32
    flip = np.concatenate([x_train, x_train[:, :, ::-1]])
    y_flip = np.concatenate([y_train, y_train])
    epochs = max(1, int(round(steps * batch / len(flip))))
    start = time.perf_counter()
    history = model.fit(
        flip, y_flip, batch_size=batch, epochs=epochs, verbose=0
    )
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
    return dict(
        test_accuracy=100.0 * float(accuracy),
        train_accuracy=100.0 * float(history.history["accuracy"][-1]),
        epochs=epochs,
        train_seconds=round(seconds, 1),
    )


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return ix * iy / (union - ix * iy)


def centred_box_baseline(boxes):
    """MaxBoxAccV2 (%) of the best centred square box, the same per image.

    `boxes`: per image, its GT boxes normalised to [0, 1] (the protocol
    resizes every image to a square). A centred isotropic Gaussian map,
    thresholded, gives exactly such boxes, so this is the centre
    baseline's best case over all sizes.
    """
    sides = np.linspace(0.01, 1.0, 100)
    accuracy = []
    for delta in (0.3, 0.5, 0.7):
        hits = [
            np.mean(
                [
                    max(
                        _iou(
                            (
                                0.5 - s / 2,
                                0.5 - s / 2,
                                0.5 + s / 2,
                                0.5 + s / 2,
                            ),
                            g,
                        )
                        for g in image
                    )
                    >= delta
                    for image in boxes
                ]
            )
            for s in sides
        ]
        accuracy.append(100.0 * float(max(hits)))
    return dict(
        zip(("iou30", "iou50", "iou70"), accuracy),
        mean=float(np.mean(accuracy)),
    )


def dataset_properties(num_classes=4, per_split=(64, 8, 16)):
    """Head / part shares, objects per image, object area and box sizes.

    Over every image of the default set (its settings, all three splits);
    the centred-box baseline over its test split.
    """
    part_share = {name: [] for name in synthetic_birds.PART_NAMES[1:]}
    objects, area, box_area, box_side, test_boxes = [], [], [], [], []
    for split, per_class in zip(synthetic.SPLITS, per_split):
        for index in range(per_class * num_classes):
            ex = synthetic.render_birds_image(
                _SEED,
                split,
                index,
                index // per_class,
                num_classes=num_classes,
                image_size=128,
            )
            pixels = ex.image.shape[0] * ex.image.shape[1]
            objects.append(len(ex.boxes))
            area.append(ex.instance_masks.any(0).sum() / pixels)
            for lab in ex.part_labels:
                for value, name in enumerate(synthetic_birds.PART_NAMES):
                    if value:
                        part_share[name].append(
                            (lab == value).sum() / ((lab > 0).sum())
                        )
            height, width = ex.image.shape[:2]
            if split == "test":
                test_boxes.append(
                    [
                        (
                            x0 / width,
                            y0 / height,
                            (x1 + 1) / width,
                            (y1 + 1) / height,
                        )
                        for x0, y0, x1, y1 in ex.boxes
                    ]
                )
            for x0, y0, x1, y1 in ex.boxes:
                w, h = x1 - x0 + 1, y1 - y0 + 1
                box_area.append(w * h / pixels)
                box_side.append((w / ex.image.shape[1], h / ex.image.shape[0]))

    def pct(values):
        points = (0, 10, 50, 90, 100)
        q = np.percentile(100.0 * np.asarray(values), points)
        return dict(
            mean=round(float(100.0 * np.mean(values)), 2),
            **{f"p{p}": round(float(v), 2) for p, v in zip(points, q)},
        )

    box_side = np.asarray(box_side)
    counts = np.bincount(objects)
    return dict(
        images=len(objects),
        objects_per_image={str(k): int(v) for k, v in enumerate(counts) if v},
        part_share_of_object_pct={k: pct(v) for k, v in part_share.items()},
        object_area_share_of_image_pct=pct(area),
        box_area_share_of_image_pct=pct(box_area),
        box_width_share_pct=pct(box_side[:, 0]),
        box_height_share_pct=pct(box_side[:, 1]),
        centred_square_box_maxboxacc_v2=centred_box_baseline(test_boxes),
    )


_VIEW_TEXT = dict(
    head_only="head only",
    body_only="body + wings + tail only",
    background_only="background only (object boxes grey)",
    no_head="everything but the head",
    full="full image",
)


def markdown(results):
    """The probe table and the dataset properties, as markdown lines."""
    e, s = results["expected"], results["settings"]
    lines = [
        "| View | Test accuracy (%) | Train accuracy (%) | Reference |",
        "|---|---|---|---|",
    ]
    reference = dict(
        head_only="100 (the head decides)",
        body_only=f"Bayes {e['bayes_body_only']:.1f}",
        background_only=f"Bayes {e['bayes_background_only']:.1f} "
        "(context band)",
    )
    views = results["views"]
    for view in [v for v in _VIEW_TEXT if v in views]:  # JSON keys sorted
        r = views[view]
        lines.append(
            f"| {_VIEW_TEXT[view]} | {r['test_accuracy']:.1f} | "
            f"{r['train_accuracy']:.1f} | "
            f"{reference.get(view, '')} |"
        )
    lines += [
        "",
        f"Chance {e['chance']:.0f} %. {s['num_classes']} classes, "
        f"body_rate {s['body_rate']}, context_rate {s['context_rate']}; "
        f"{s['train_per_class']} train / {s['test_per_class']} test images "
        f"per class at {s['input_size']} px, ~{s['steps']} steps; "
        f"model: {s['model']}.",
        "",
        "| Property (default set, all splits) | mean | p0 | p10 | p50 | p90 "
        "| p100 |",
        "|---|---|---|---|---|---|---|",
    ]
    d = results["dataset_properties"]
    shares = d["part_share_of_object_pct"]
    rows = [
        (f"{k} share of the object (%)", shares[k])
        for k in synthetic_birds.PART_NAMES[1:]
    ]
    rows += [
        ("object area / image area (%)", d["object_area_share_of_image_pct"]),
        ("box area / image area (%)", d["box_area_share_of_image_pct"]),
        ("box width / image width (%)", d["box_width_share_pct"]),
        ("box height / image height (%)", d["box_height_share_pct"]),
    ]
    for name, q in rows:
        lines.append(
            f"| {name} | {q['mean']} | {q['p0']} | {q['p10']} | {q['p50']} "
            f"| {q['p90']} | {q['p100']} |"
        )
    counts = ", ".join(f"{n}: {c}" for n, c in d["objects_per_image"].items())
    lines.append("")
    lines.append(f"Objects per image ({d['images']} images): {counts}.")
    if "centred_square_box_maxboxacc_v2" in d:
        c = d["centred_square_box_maxboxacc_v2"]
        lines.append(
            "Best centred square box (the centre-Gaussian baseline's best "
            f"case), test split: MaxBoxAccV2 {c['mean']:.1f} (IoU 0.3 / 0.5 "
            f"/ 0.7: {c['iou30']:.1f} / {c['iou50']:.1f} / {c['iou70']:.1f})."
        )
    return lines


def write_readme(paths):
    """Rewrites bench/README.md's synthetic_probe section from `paths`."""
    lines = []
    for k, path in enumerate(paths):
        with open(path) as f:
            results = json.load(f)
        table = markdown(results)
        if k:  # views only: the properties are the same set's
            table = table[: table.index("") + 2]
        meta = results["meta"]
        lines += table + [
            "",
            f"Command: `{make_tables.portable(meta['command'])}`; "
            f"{meta['cpu']}, "
            f"{meta['cpu_count']} CPUs, TensorFlow {meta['tensorflow']}; "
            f"{meta['date_utc']}; load average at start "
            f"{meta['loadavg_at_start'][0]:.1f}; "
            f"{results['total_seconds']:.0f} s.",
            f"(Generated from `bench/results/{os.path.basename(path)}`.)",
            "",
        ]
    make_tables.write_section(
        make_tables.README, "synthetic_probe", "\n".join(lines)
    )


def _write(path, results):
    make_tables.write_json(path, results)
    make_tables.write_text(
        os.path.splitext(path)[0] + ".md", "\n".join(markdown(results)) + "\n"
    )


def main(argv):
    del argv
    if FLAGS.write_readme:
        write_readme(FLAGS.write_readme)
        return
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(2)
    tf.config.threading.set_intra_op_parallelism_threads(2)
    start = time.perf_counter()
    results = dict(
        meta=make_tables.machine_info(),
        settings=dict(
            style="birds",
            num_classes=_NUM_CLASSES,
            body_rate=synthetic_birds.BODY_RATE,
            context_rate=synthetic_birds.CONTEXT_RATE,
            image_size=128,
            input_size=FLAGS.input_size,
            train_per_class=FLAGS.train_per_class,
            test_per_class=FLAGS.test_per_class,
            steps=FLAGS.steps,
            model="4 x (conv3x3 + BN + ReLU + maxpool), widths 16-96, GAP, "
            "dense; Adam 2e-3, batch 32, horizontal flips",
        ),
        expected=dict(
            chance=100.0 / _NUM_CLASSES,
            bayes_body_only=bayes_accuracy(
                synthetic_birds.BODY_RATE, 3, _NUM_CLASSES
            ),
            bayes_background_only=100.0
            * (
                synthetic_birds.CONTEXT_RATE
                + (1 - synthetic_birds.CONTEXT_RATE) / 4
            ),
        ),
        views={},
    )
    output = FLAGS.output or make_tables.result_path("synthetic_probe", "json")
    results["dataset_properties"] = dataset_properties()
    _write(output, results)
    size = FLAGS.input_size
    train, y_train = _render_split("train", FLAGS.train_per_class, size)
    test, y_test = _render_split("test", FLAGS.test_per_class, size)
    results["render_seconds"] = round(time.perf_counter() - start, 1)
    for view in FLAGS.views:
        results["views"][view] = _train_and_test(
            train[view], y_train, test[view], y_test, FLAGS.steps, _SEED
        )
        print(view, results["views"][view], flush=True)
        results["total_seconds"] = round(time.perf_counter() - start, 1)
        _write(output, results)
    print(json.dumps(results["dataset_properties"], indent=1))


if __name__ == "__main__":
    define_flags()
    app.run(main)
