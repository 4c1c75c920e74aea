r"""Re-evaluates a run from its exported SavedModel alone, with
wsolevaluation's own evaluation code: an independent check of the metrics.

    python bench/reevaluate_saved_model.py \
        --run_dir=runs/synthetic_resnet50_icl \
        --wsolevaluation=/path/to/clovaai/wsolevaluation

Nothing of wsol_tf is imported. The SavedModel (`<run_dir>/saved_model`)
serves the CAMs of the ground-truth classes from the image files' pixels
(`localize_class_images`: resized and normalised in its graph);
wsolevaluation's `BoxEvaluator` (its evaluation.py, data_loaders.py,
util.py, config.py from a checkout; `munch` and `torchvision` are only
imported there and are stubbed when absent; `np.float`, which its util.py
reads, is restored as `float` on NumPy >= 1.24) scores them against the
split's metadata; its resize length is set to the run's evaluation size.
Images are read with OpenCV (uint8 RGB). The result is compared with the
run's `metrics_test.json`.
"""

import json
import os
import sys
import types

import cv2
import numpy as np
from absl import app
from absl import flags

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("run_dir", None, "A tools/train.py model_dir.")
    flags.DEFINE_string(
        "wsolevaluation", None, "A checkout of clovaai/wsolevaluation."
    )
    flags.DEFINE_string("split", "test", "Metadata split to evaluate.")
    flags.DEFINE_string("output", None, "Result JSON (default: print only).")
    flags.DEFINE_string(
        "metrics",
        None,
        "The run's metrics JSON to compare with (default: "
        "<run_dir>/metrics_<split>.json; tools/evaluate.py writes "
        "eval_<split>.json).",
    )


def _import_wsolevaluation(path):
    """evaluation.py of a wsolevaluation checkout (stubs for munch and
    torchvision, which it only imports)."""
    if "munch" not in sys.modules:
        try:
            import munch  # noqa: F401
        except ImportError:
            stub = types.ModuleType("munch")

            class Munch(dict):
                __getattr__ = dict.__getitem__
                __setattr__ = dict.__setitem__

            stub.Munch = Munch
            sys.modules["munch"] = stub
    try:
        import torchvision  # noqa: F401
    except ImportError:
        tv = types.ModuleType("torchvision")
        tv.transforms = types.ModuleType("torchvision.transforms")
        sys.modules["torchvision"] = tv
        sys.modules["torchvision.transforms"] = tv.transforms
    if not hasattr(np, "float"):  # its util.py checks dtype == np.float,
        np.float = float  # an alias NumPy 1.24 removed (= float64)
    sys.path.insert(0, os.path.abspath(path))
    import data_loaders
    import evaluation

    return evaluation, data_loaders


def reevaluate(run_dir, wsolevaluation, split="test"):
    import tensorflow as tf

    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)
    data = config["data"]
    size = int(data["eval_image_size"])
    evaluation, data_loaders = _import_wsolevaluation(wsolevaluation)
    evaluation._RESIZE_LENGTH = size  # the run's evaluation size
    metadata_root = os.path.join(data["metadata_root"], split)
    metadata = data_loaders.configure_metadata(metadata_root)
    image_ids = data_loaders.get_image_ids(metadata)
    labels = data_loaders.get_class_labels(metadata)
    evaluator = evaluation.BoxEvaluator(
        metadata=metadata,
        dataset_name=data["dataset_name"].upper(),
        split=split,
        cam_threshold_list=list(
            np.arange(0, 1, config["eval"]["cam_curve_interval"])
        ),
        iou_threshold_list=list(config["eval"]["iou_thresholds"]),
        mask_root=None,
        multi_contour_eval=config["eval"]["multi_contour_eval"],
    )
    loaded = tf.saved_model.load(os.path.join(run_dir, "saved_model"))
    assert not any(m.startswith("wsol_tf") for m in sys.modules)
    correct = 0
    for image_id in image_ids:
        path = os.path.join(data["data_root"], image_id)
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{path}: not a readable image")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        gt = np.asarray([labels[image_id]], np.int32)
        # The file's pixels; the SavedModel resizes and normalises
        # them in its graph as the evaluation pipeline does.
        out = loaded.localize_class_images(
            tf.constant(rgb[None]), tf.constant(gt), tf.constant(0.5)
        )
        correct += int(out["class_ids"].numpy()[0] == gt[0])
        # float64, as its check_scoremap_validity requires.
        cam = out["cams"].numpy()[0].astype(np.float64)
        evaluator.accumulate(cam, image_id)
    per_iou = evaluator.compute()
    return {
        "maxboxacc": dict(
            zip(
                [str(t) for t in config["eval"]["iou_thresholds"]],
                [float(v) for v in per_iou],
            )
        ),
        "maxboxaccv2": float(np.mean(per_iou)),
        "top1_cls": 100.0 * correct / len(image_ids),
        "num_images": len(image_ids),
    }


def main(argv):
    del argv
    result = reevaluate(FLAGS.run_dir, FLAGS.wsolevaluation, FLAGS.split)
    path = FLAGS.metrics or os.path.join(
        FLAGS.run_dir, f"metrics_{FLAGS.split}.json"
    )
    with open(path) as f:
        run = json.load(f)["metrics"]
    result["run_metrics_file"] = path
    result["run_metrics"] = {
        k: run[k]
        for k in (
            "maxboxacc_30",
            "maxboxacc_50",
            "maxboxacc_70",
            "maxboxaccv2",
            "top1_cls",
            "num_images",
        )
    }
    result["run_dir"] = FLAGS.run_dir
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    define_flags()
    app.run(main)
