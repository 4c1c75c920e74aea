"""Where trained CAMs put their values on the "birds" set, and what it costs.

The set's larger parts (body, wings, tail) each show the class's own
plumage (probability `body_rate`) or another class's. A CAM of the true
class that follows the class evidence is high on the head, positive on the
own-plumage parts, at most neutral on the other-plumage parts, and silent
on the background. Per trained run (a model_dir of `tools/train.py` or
`bench/quality_bench.py`), on the test split:

- the mean protocol score map (the GT class's CAM, cubic resize, min-max:
  what MaxBoxAccV2 thresholds) on the head, the own-plumage parts, the
  other-plumage parts, the background near the objects (within
  `--near_px`) and far from them;
- the % of background pixels scoring above the image's own-plumage mean:
  any box drawn at a threshold low enough to take the body in takes them;
- MaxBoxAccV2 of the maps as they are, with the far background, and with
  the whole background, capped at its per-image median: what the
  background's noise costs (counterfactuals, not methods).

Once per dataset, without a model: evidence maps (head 1, own-plumage
parts `own`, other-plumage parts `other`, background 0) averaged to the
CAM's resolution and resized as the protocol resizes CAMs. What a CAM that
followed the class evidence exactly, with a silent background, would score.

    python bench/cam_regions.py --runs=DIR[,DIR...] --output=J   # ~5 s/run
"""

import json
import os
import re

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

try:  # `python bench/cam_regions.py` has bench/ on sys.path already
    import make_tables  # noqa: E402
except ImportError:  # imported as bench.cam_regions (its tests)
    from bench import make_tables  # noqa: E402

FLAGS = flags.FLAGS

BACKGROUND, HEAD, OWN, OTHER = 0, 1, 2, 3
# The background by what painted it (BACKGROUND is the smooth colour
# field): the ground band of the class's own context kind or of another
# kind, and the clutter patches.
GROUND_OWN, GROUND_OTHER, CLUTTER = 4, 5, 6
BACKGROUND_KINDS = (
    ("field", BACKGROUND),
    ("ground_own", GROUND_OWN),
    ("ground_other", GROUND_OTHER),
    ("clutter", CLUTTER),
)
_PARTS = ((2, "body"), (3, "wings"), (4, "tail"))  # synthetic_birds labels
# (own, other) weights of the evidence maps (the head is 1): the whole
# object, the head alone, then the larger parts at 0.3 or 0.1 of the head
# with another class's plumage as strong, neutral or counting against.
EVIDENCE_WEIGHTS = (
    (1.0, 1.0),
    (0.0, 0.0),
    (0.3, 0.3),
    (0.3, 0.0),
    (0.3, -0.3),
    (0.1, 0.0),
    (0.1, -0.1),
)


def define_flags():
    """The tool's flags (defined when run as a script)."""
    flags.DEFINE_list("runs", [], "Model dirs of trained runs.")
    flags.DEFINE_integer(
        "near_px",
        8,
        "Background within this many pixels of an object "
        "(at the evaluation size) is 'near'.",
    )
    flags.DEFINE_integer(
        "test_per_class",
        None,
        "Score on a test split of N images per class of the runs' set "
        "(train and val unchanged) instead of the runs' own.",
        lower_bound=1,
    )
    flags.DEFINE_string("output", None, "Result JSON.")
    flags.DEFINE_string(
        "section",
        None,
        "Also write the tables into this section of "
        "bench/README.md (a result in bench/results/ only).",
    )
    flags.DEFINE_bool(
        "write_readme", False, "Only write --section from --output."
    )


def region_map(example, look):
    """uint8 [H, W] region codes of one example: HEAD / OWN / OTHER on the
    objects, the background's kind elsewhere (`BACKGROUND_KINDS`).

    Args:
        example: a `synthetic_birds.BirdExample`.
        look: the generator class the image's class looks like (its label
            plus the set's `class_offset`): parts drawn from it are OWN, a
            ground band of its context kind is GROUND_OWN.
    """
    from wsol_tf.data import synthetic_birds

    names = synthetic_birds.BACKGROUND_LABELS
    painted = example.background_labels
    own = example.background_kinds[1] == synthetic_birds.context_kind(look)
    ground = GROUND_OWN if own else GROUND_OTHER
    regions = np.zeros(example.image.shape[:2], np.uint8)
    regions[painted == names.index("ground")] = ground
    regions[painted == names.index("clutter")] = CLUTTER
    for labels, styles in zip(example.part_labels, example.styles):
        for value, part in _PARTS:
            regions[labels == value] = OWN if styles[part] == look else OTHER
        regions[labels == 1] = HEAD
    return regions


def is_background(regions):
    """bool [H, W]: the background pixels of a region map, of any kind."""
    return (regions == BACKGROUND) | (regions >= GROUND_OWN)


def far_background(regions, near_px):
    """bool [H, W]: background pixels more than `near_px` from an object."""
    background = is_background(regions)
    distance = cv2.distanceTransform(
        background.astype(np.uint8), cv2.DIST_L2, 3
    )
    return background & (distance > near_px)


def region_stats(scoremap, regions, near_px):
    """Mean score per region and background pixels above the own mean.

    Args:
        scoremap: float [H, W] protocol score map.
        regions: uint8 [H, W] of the region codes, same size.
        near_px: background within this distance of an object is "near".

    Returns:
        dict of fractions in [0, 1]: the mean score of each region, and
        for the whole background and each of its kinds the share of its
        pixels above the own-plumage mean (`<region>_above_own`); a region
        the image lacks is absent.
    """
    background = is_background(regions)
    far = far_background(regions, near_px)
    kinds = {name: regions == code for name, code in BACKGROUND_KINDS}
    masks = {
        "head": regions == HEAD,
        "own": regions == OWN,
        "other": regions == OTHER,
        "background": background,
        "near": background & ~far,
        "far": far,
        **kinds,
    }
    stats = {k: float(scoremap[m].mean()) for k, m in masks.items() if m.any()}
    if "own" in stats:
        for name in ("background", *kinds):
            if masks[name].any():
                stats[f"{name}_above_own"] = float(
                    (scoremap[masks[name]] > stats["own"]).mean()
                )
    return stats


def cap_background(scoremap, regions, near_px=None):
    """The map with its background (only the far part if `near_px` is
    given) capped at that background's median."""
    out = scoremap.copy()
    if near_px is None:
        mask = is_background(regions)
    else:
        mask = far_background(regions, near_px)
    if mask.any():
        out[mask] = np.minimum(out[mask], np.median(out[mask]))
    return out


def evidence_map(regions, own, other):
    """float [H, W]: head 1, own plumage `own`, other plumage `other`, the
    background (every kind) 0."""
    values = np.zeros(CLUTTER + 1)
    values[[HEAD, OWN, OTHER]] = 1.0, own, other
    return values[regions]


def protocol_scoremap(raw, feature_size, size):
    """`raw` [H, W] area-averaged to `feature_size`, then resized to `size`
    and normalised as the protocol does a CAM."""
    from wsol_tf.evaluation.cam_ops import scoremaps_from_cams

    small = cv2.resize(
        raw.astype(np.float32),
        (feature_size, feature_size),
        interpolation=cv2.INTER_AREA,
    )
    return scoremaps_from_cams(small[None], size)[0]


def region_maps(data):
    """Region maps at the evaluation size of every test image of `data`,
    by image id (re-rendered from the generator's draws; the same for
    every run on the set)."""
    from wsol_tf.data import metadata
    from wsol_tf.data.synthetic import render_from_image_id

    path = os.path.join(data.data_root, "synthetic.json")
    if not os.path.isfile(path):
        raise ValueError(
            f"{data.data_root}: not a generated synthetic set (no "
            "synthetic.json); cam_regions reads the generator's draws."
        )
    with open(path) as f:
        settings = json.load(f)
    if settings.get("style", "heads") != "birds":
        raise ValueError(
            f"{path}: style {settings.get('style', 'heads')!r}; cam_regions "
            "needs the 'birds' set (dataset_name=synthetic): only it draws "
            "each part's plumage."
        )
    offset = settings.get("class_offset", 0)
    size = data.eval_image_size
    split = data.test_split
    meta = metadata.read_metadata(data.metadata_root, split, data.data_root)
    regions = {}
    for image_id in meta.image_ids:
        label = meta.labels[image_id]
        ex = render_from_image_id(data.data_root, split, image_id, label)
        regions[image_id] = cv2.resize(
            region_map(ex, label + offset),
            (size, size),
            interpolation=cv2.INTER_NEAREST,
        )
    return regions


def _examples(data, regions):
    """(batch, [regions of its images]) over the test split's batches."""
    from wsol_tf.data import build_dataset

    for batch in build_dataset(data, data.test_split, training=False):
        yield (
            batch,
            [regions[i.decode()] for i in np.asarray(batch["image_ids"])],
        )


def evidence_ceiling(
    data, eval_config, feature_size, weights=EVIDENCE_WEIGHTS, regions=None
):
    """MaxBoxAccV2 of evidence maps at `feature_size` on the test split
    (`regions`: `region_maps(data)`, computed if not given).

    Returns:
        list of dicts (own, other, iou30, iou50, iou70, mean).
    """
    from wsol_tf.evaluation.box_evaluator import BoxEvaluator

    evaluators = {
        w: BoxEvaluator.from_eval_config(eval_config) for w in weights
    }
    regions = regions if regions is not None else region_maps(data)
    for batch, batch_regions in _examples(data, regions):
        boxes = np.asarray(batch["boxes"]).astype(np.int64)
        for w, evaluator in evaluators.items():
            maps = np.stack(
                [
                    protocol_scoremap(
                        evidence_map(r, *w), feature_size, data.eval_image_size
                    )
                    for r in batch_regions
                ]
            )
            evaluator.accumulate_batch(maps, boxes)
    return [
        dict(own=w[0], other=w[1], **_box_row(e.compute()))
        for w, e in evaluators.items()
    ]


def _box_row(metrics):
    return {
        "iou30": metrics[30],
        "iou50": metrics[50],
        "iou70": metrics[70],
        "mean": metrics["mean"],
    }


def run_regions(model, data, eval_config, near_px, regions=None):
    """Region means, background above own and the counterfactual scores of
    one trained model (anything with `compute_cams`) on the test split
    (`regions`: `region_maps(data)`, computed if not given)."""
    from wsol_tf.evaluation.box_evaluator import BoxEvaluator
    from wsol_tf.evaluation.cam_ops import scoremaps_from_cams

    variants = {
        "as_is": lambda m, r: m,
        "far_background_capped": lambda m, r: cap_background(m, r, near_px),
        "background_capped": lambda m, r: cap_background(m, r),
    }
    evaluators = {
        k: BoxEvaluator.from_eval_config(eval_config) for k in variants
    }
    stats, feature_size = [], None
    regions = regions if regions is not None else region_maps(data)
    for batch, batch_regions in _examples(data, regions):
        labels = np.asarray(batch["labels"])
        _, cams = model.compute_cams(batch["images"], labels)
        cams = np.asarray(cams)
        feature_size = cams.shape[1]
        maps = scoremaps_from_cams(cams, data.eval_image_size)
        boxes = np.asarray(batch["boxes"]).astype(np.int64)
        stats.extend(
            region_stats(m, r, near_px) for m, r in zip(maps, batch_regions)
        )
        for name, fn in variants.items():
            evaluators[name].accumulate_batch(
                np.stack([fn(m, r) for m, r in zip(maps, batch_regions)]),
                boxes,
            )
    keys = sorted({k for s in stats for k in s})
    means = {
        k: 100.0 * float(np.mean([s[k] for s in stats if k in s])) for k in keys
    }
    return dict(
        regions=means,
        maxboxaccv2={k: _box_row(e.compute()) for k, e in evaluators.items()},
        feature_size=feature_size,
    )


def row_name(run_name):
    """`icl_triplet_seed2` -> `icl_triplet`: the row a run belongs to."""
    return re.sub(r"_seed\d+$", "", run_name)


def markdown(result):
    """The result's tables: runs grouped by row (mean ± std over seeds),
    and the evidence maps."""
    rows = {}
    for run in result["runs"]:
        rows.setdefault(row_name(run["name"]), []).append(run)
    region_keys = (
        "head",
        "own",
        "other",
        "near",
        "far",
        "background_above_own",
    )
    map_keys = ("as_is", "far_background_capped", "background_capped")
    table = []
    for name, runs in rows.items():
        table.append(
            [
                f"{name} ({len(runs)})",
                *(
                    make_tables.mean_std(
                        [r["regions"].get(k) for r in runs], digits=1
                    )
                    for k in region_keys
                ),
                *(
                    make_tables.mean_std(
                        [r["maxboxaccv2"][k]["mean"] for r in runs], digits=1
                    )
                    for k in map_keys
                ),
            ]
        )
    lines = [
        make_tables.md_table(
            [
                "row (runs)",
                "head",
                "own plumage",
                "other plumage",
                "background near",
                "background far",
                "% background above own",
                "MaxBoxAccV2",
                "far background capped",
                "background capped",
            ],
            table,
        )
    ]
    if any("field" in r["regions"] for r in result["runs"]):
        lines += ["", _kinds_table(rows)]
    lines.append("")
    lines.append(
        f"Mean protocol score map (x 100) per region of the test images; "
        f"near: background within {result['near_px']} px of an object (at "
        f"the evaluation size). Evidence maps at the runs' CAM resolution "
        f"({result['runs'][-1]['feature_size']} x "
        f"{result['runs'][-1]['feature_size']}), no model:"
    )
    lines.append("")
    lines.append(
        make_tables.md_table(
            [
                "own plumage",
                "other plumage",
                "IoU 30",
                "IoU 50",
                "IoU 70",
                "MaxBoxAccV2",
            ],
            [
                [
                    f"{c['own']:g}",
                    f"{c['other']:g}",
                    *(
                        f"{c[k]:.1f}"
                        for k in ("iou30", "iou50", "iou70", "mean")
                    ),
                ]
                for c in result["evidence_ceiling"]
            ],
        )
    )
    lines.append("")
    meta = result["meta"]
    command = short_command(meta.get("command", "?"), result)
    lines.append(
        f"Command: `{make_tables.portable(command)}`; "
        f"{meta.get('cpu', '?')}, {meta.get('date_utc', '?')}."
    )
    return "\n".join(lines)


def _kinds_table(rows):
    """The background by what painted it: mean score and % of its pixels
    above the own-plumage mean, per row."""
    table = []
    for name, runs in rows.items():
        cells = []
        for kind, _ in BACKGROUND_KINDS:
            for key in (kind, f"{kind}_above_own"):
                cells.append(
                    make_tables.mean_std(
                        [r["regions"].get(key) for r in runs], digits=1
                    )
                )
        table.append([f"{name} ({len(runs)})", *cells])
    header = ["row (runs)"]
    for label in (
        "colour field",
        "own ground band",
        "other ground band",
        "clutter",
    ):
        header += [label, f"% {label} above own"]
    return make_tables.md_table(header, table)


def short_command(command, result):
    """`command` with its --runs list as `<N runs in PARENT>` when the runs
    share a parent directory (the bench's runs_dir)."""
    parents = {
        os.path.dirname(os.path.normpath(r["model_dir"]))
        for r in result["runs"]
        if "model_dir" in r
    }
    if len(parents) != 1:
        return command
    return re.sub(
        r"--runs=\S+",
        f"--runs=<{len(result['runs'])} runs in {parents.pop()}>",
        command,
    )


def write_readme(path, section):
    """Writes `section` of bench/README.md from the result at `path` (a
    result in bench/results/ only: what the section cites must be kept)."""
    if os.path.dirname(os.path.abspath(path)) != os.path.abspath(
        make_tables.RESULTS_DIR
    ):
        raise app.UsageError(
            f"--section: the tables are written from results in "
            f"{make_tables.RESULTS_DIR} only. Received: --output={path}"
        )
    with open(path) as f:
        result = json.load(f)
    body = markdown(result) + (
        f"\n\n(Generated from `bench/results/{os.path.basename(path)}`.)"
    )
    make_tables.write_section(make_tables.README, section, body)


def main(argv):
    del argv
    from wsol_tf.callbacks.checkpoint import load_checkpoint
    from wsol_tf.config import ExperimentConfig
    from wsol_tf.data.resolve import with_synthetic_test_split

    if FLAGS.write_readme:
        if not FLAGS.output or not FLAGS.section:
            raise app.UsageError("--write_readme needs --output and --section.")
        write_readme(FLAGS.output, FLAGS.section)
        return
    if not FLAGS.runs:
        raise app.UsageError("--runs: expected at least one model dir.")
    result = dict(
        meta=make_tables.machine_info(), near_px=FLAGS.near_px, runs=[]
    )
    data = regions = trained_on = None
    for model_dir in FLAGS.runs:
        path = os.path.join(model_dir, "config.json")
        if not os.path.isfile(path):
            raise app.UsageError(f"--runs: {path} not found (not a run dir).")
        with open(path) as f:
            config = ExperimentConfig.from_json(f.read())
        if trained_on and config.data.data_root != trained_on:
            raise app.UsageError(
                f"--runs: {model_dir} was trained on {config.data.data_root}, "
                f"the first run on {trained_on}: one dataset per result."
            )
        trained_on = config.data.data_root
        if regions is None:  # once: every run is on the same set
            data = config.data
            try:
                if FLAGS.test_per_class:
                    data = with_synthetic_test_split(data, FLAGS.test_per_class)
                regions = region_maps(data)
            except ValueError as e:  # not a "birds" synthetic set
                raise SystemExit(
                    f"cam_regions: --runs={model_dir}: {e}"
                ) from None
        model = load_checkpoint(
            os.path.join(model_dir, "checkpoints", "last.keras")
        )
        run = run_regions(model, data, config.eval, FLAGS.near_px, regions)
        run["name"] = os.path.basename(os.path.normpath(model_dir))
        run["model_dir"] = model_dir
        result["runs"].append(run)
        print(run["name"], run["regions"], run["maxboxaccv2"], flush=True)
    result["evidence_ceiling"] = evidence_ceiling(
        data,
        config.eval,
        result["runs"][-1]["feature_size"],
        regions=regions,
    )
    make_tables.finish_meta(result["meta"])
    print(markdown(result))
    if FLAGS.output:
        make_tables.write_json(FLAGS.output, result)
        if FLAGS.section:
            write_readme(FLAGS.output, FLAGS.section)


if __name__ == "__main__":
    define_flags()
    app.run(main)
