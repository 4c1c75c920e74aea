r"""How much of a MaxBoxAccV2 comes from which test images were drawn.

    python bench/split_noise.py --runs=DIR[,DIR...] [--samples=2000]

For trained runs (model dirs of `tools/train.py` or `bench/quality_bench.py`)
on the same test split: each run's per-image BoxAcc hits at every CAM
threshold and IoU level (its last checkpoint, float32, its own EvalConfig),
then a bootstrap over the images (the same resampled image set for every
run): the std of each run's MaxBoxAccV2 and of each pair's difference.
The sampling noise a comparison on this split carries, whatever the method.
"""

import itertools
import os

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

FLAGS = flags.FLAGS


def maxboxaccv2(hits, images=None):
    """MaxBoxAccV2 (%) of bool hits [n_iou, n_images, n_thresholds] over
    `images` (indices, repeats allowed; default all)."""
    if images is not None:
        hits = hits[:, images]
    return 100.0 * float(hits.mean(axis=1).max(axis=-1).mean())


def bootstrap(hits_by_run, samples, seed=0):
    """{run: std}, {(a, b): std of a - b} over `samples` resamples of the
    images (one draw shared by all runs)."""
    rng = np.random.default_rng(seed)
    n = next(iter(hits_by_run.values())).shape[1]
    scores = {k: [] for k in hits_by_run}
    for _ in range(samples):
        images = rng.integers(0, n, n)
        for k, h in hits_by_run.items():
            scores[k].append(maxboxaccv2(h, images))
    scores = {k: np.asarray(v) for k, v in scores.items()}
    pairs = {
        (a, b): float(np.std(scores[a] - scores[b]))
        for a, b in itertools.combinations(sorted(scores), 2)
    }
    return {k: float(np.std(v)) for k, v in scores.items()}, pairs


def run_hits(model_dir):
    """bool hits [n_iou, n_images, n_thresholds] of a run on its test
    split, at its EvalConfig's IoU levels."""
    from wsol_tf.callbacks.checkpoint import load_checkpoint
    from wsol_tf.config import ExperimentConfig
    from wsol_tf.data import build_dataset
    from wsol_tf.evaluation.box_evaluator import BoxEvaluator
    from wsol_tf.evaluation.cam_ops import scoremaps_from_cams

    with open(os.path.join(model_dir, "config.json")) as f:
        config = ExperimentConfig.from_json(f.read())
    data = config.data
    evaluator = BoxEvaluator.from_eval_config(config.eval)
    model = load_checkpoint(
        os.path.join(model_dir, "checkpoints", "last.keras")
    )
    for batch in build_dataset(data, data.test_split, training=False):
        _, cams = model.compute_cams(
            batch["images"], np.asarray(batch["labels"])
        )
        evaluator.accumulate_batch(
            scoremaps_from_cams(np.asarray(cams), data.eval_image_size),
            np.asarray(batch["boxes"]).astype(np.int64),
        )
    return np.stack([evaluator.image_hits(t) for t in evaluator.iou_thresholds])


def main(argv):
    del argv
    if not FLAGS.runs:
        raise app.UsageError("--runs: expected at least one model dir.")
    hits = {}
    for model_dir in FLAGS.runs:
        if not os.path.isfile(os.path.join(model_dir, "config.json")):
            raise app.UsageError(f"--runs: {model_dir} has no config.json.")
        name = os.path.basename(os.path.normpath(model_dir))
        hits[name] = run_hits(model_dir)
    sizes = {h.shape[1] for h in hits.values()}
    if len(sizes) != 1:
        raise app.UsageError(f"--runs: test splits of different sizes {sizes}")
    runs, pairs = bootstrap(hits, FLAGS.samples)
    print(f"{sizes.pop()} test images, {FLAGS.samples} bootstrap samples")
    for k, std in runs.items():
        print(f"{k}: MaxBoxAccV2 {maxboxaccv2(hits[k]):.2f} ± {std:.2f}")
    for (a, b), std in pairs.items():
        diff = maxboxaccv2(hits[a]) - maxboxaccv2(hits[b])
        print(f"{a} - {b}: {diff:+.2f} ± {std:.2f}")


if __name__ == "__main__":
    flags.DEFINE_list("runs", [], "Model dirs of runs on the same test split.")
    flags.DEFINE_integer("samples", 2000, "Bootstrap resamples.", lower_bound=1)
    app.run(main)
