r"""Peak memory (RSS) of the evaluators and of a training epoch.

Evaluators: N CAMs of 224 px (one Gaussian blob each, one GT box),
accumulated by `BoxEvaluator` or `MaskEvaluator` in batches; prints the
peak RSS every `--report_every` CAMs, so growth shows:

    python bench/memory_bench.py --mode=box --num_cams=5000
    python bench/memory_bench.py --mode=mask --num_cams=50000

Training: writes a small set of 448-px JPEGs in the wsolevaluation layout
and runs tools/train.py on it with the CUB preset (flags/cub_resnet50_icl
.flags: ResNet50 ICL, batch 32, crop 224; random weights and the
protocol's normalisation, offline) for a
few steps; prints the training process's peak RSS and the batch's size:

    python bench/memory_bench.py --mode=train --steps=3
"""

import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app
from absl import flags

_MODE = flags.DEFINE_enum("mode", "box", ["box", "mask", "train"], "What.")
_NUM = flags.DEFINE_integer("num_cams", 5000, "CAMs to evaluate.")
_SIZE = flags.DEFINE_integer("cam_size", 224, "CAM side in pixels.")
_BATCH = flags.DEFINE_integer("batch", 100, "CAMs per accumulate_batch.")
_INTERVAL = flags.DEFINE_float("cam_curve_interval", 0.001, "Threshold step.")
_EVERY = flags.DEFINE_integer("report_every", 5000, "Print RSS every N CAMs.")
_STEPS = flags.DEFINE_integer("steps", 3, "Training steps (mode=train).")
_IMAGE = flags.DEFINE_integer("image_side", 448, "JPEG side (mode=train).")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _peak_mib(who=resource.RUSAGE_SELF):
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def _cams(rng, n, size):
    """n maps [0, 1] with one Gaussian blob each, and its box."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    cy, cx = rng.uniform(0.3, 0.7, (2, n, 1, 1)) * size
    sigma = rng.uniform(0.08, 0.2, (n, 1, 1)) * size
    maps = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    maps += rng.uniform(0, 0.05, maps.shape)
    maps = (maps / maps.max(axis=(1, 2), keepdims=True)).astype(np.float32)
    half = sigma[:, 0, 0]
    boxes = (
        np.stack(
            [
                cx[:, 0, 0] - half,
                cy[:, 0, 0] - half,
                cx[:, 0, 0] + half,
                cy[:, 0, 0] + half,
            ],
            axis=-1,
        )
        .clip(0, size - 1)
        .astype(np.int64)
    )
    return maps, boxes


def _evaluators():
    from wsol_tf.evaluation.box_evaluator import BoxEvaluator
    from wsol_tf.evaluation.mask_evaluator import MaskEvaluator

    start = time.perf_counter()
    rng = np.random.default_rng(0)
    if _MODE.value == "box":
        evaluator = BoxEvaluator(cam_curve_interval=_INTERVAL.value)
    else:
        evaluator = MaskEvaluator(cam_curve_interval=_INTERVAL.value)
    print(f"start: peak RSS {_peak_mib():.0f} MiB", flush=True)
    done = 0
    while done < _NUM.value:
        n = min(_BATCH.value, _NUM.value - done)
        maps, boxes = _cams(rng, n, _SIZE.value)
        if _MODE.value == "box":
            evaluator.accumulate_batch(maps, boxes[:, None])
        else:
            masks = np.zeros(maps.shape, np.uint8)
            for mask, (x0, y0, x1, y1) in zip(masks, boxes):
                mask[y0 : y1 + 1, x0 : x1 + 1] = 1
            evaluator.accumulate_batch(maps, masks)
        done += n
        if done % _EVERY.value == 0 or done == _NUM.value:
            print(
                f"{done} CAMs: peak RSS {_peak_mib():.0f} MiB, "
                f"{time.perf_counter() - start:.0f} s",
                flush=True,
            )
    print(f"result: {evaluator.compute()}")


def _jpeg_set(root, side, counts):
    import cv2

    rng = np.random.default_rng(0)
    meta = os.path.join(root, "metadata")
    for split, n in counts.items():
        os.makedirs(os.path.join(root, "images", split), exist_ok=True)
        os.makedirs(os.path.join(meta, split), exist_ok=True)
        ids, rows = [], {"class_labels": [], "image_sizes": [], "loc": []}
        for k in range(n):
            image_id = f"images/{split}/{k:04d}.jpg"
            image = rng.integers(0, 255, (side, side, 3), np.uint8)
            cv2.imwrite(os.path.join(root, image_id), image)
            ids.append(image_id)
            rows["class_labels"].append(f"{image_id},{k % 2}")
            rows["image_sizes"].append(f"{image_id},{side},{side}")
            rows["loc"].append(f"{image_id},10,10,{side // 2},{side // 2}")
        files = {
            "image_ids.txt": ids,
            "class_labels.txt": rows["class_labels"],
            "image_sizes.txt": rows["image_sizes"],
            "localization.txt": rows["loc"],
        }
        for name, lines in files.items():
            with open(os.path.join(meta, split, name), "w") as f:
                f.write("\n".join(lines) + "\n")
    return root, meta


def _train():
    batch = 32  # the CUB preset's (library default)
    with tempfile.TemporaryDirectory() as tmp:
        data, meta = _jpeg_set(
            tmp,
            _IMAGE.value,
            {"train": batch * _STEPS.value, "val": 4, "test": 4},
        )
        command = [
            sys.executable,
            os.path.join(REPO, "tools", "train.py"),
            "--flagfile="
            + os.path.join(REPO, "flags", "cub_resnet50_icl.flags"),
            f"--data_root={data}",
            f"--metadata_root={meta}",
            "--dataset_name=custom",
            "--weights=",
            "--normalization=imagenet",
            "--num_classes=2",
            f"--model_dir={os.path.join(tmp, 'run')}",
            "--epochs=1",
            f"--steps_per_epoch={_STEPS.value}",
            "--eval_every_epochs=0",
            "--noexport",
            "--novisualize",
        ]
        start = time.perf_counter()
        subprocess.run(
            command, check=True, env=dict(os.environ, PYTHONPATH=REPO)
        )
        wall = time.perf_counter() - start
    decoded = batch * _IMAGE.value**2 * 3 / 2**20
    fed = batch * 224 * 224 * 3 * 4 / 2**20
    print(
        f"train: {_STEPS.value} steps of {batch} {_IMAGE.value}-px JPEGs, "
        f"{wall:.0f} s: peak RSS {_peak_mib(resource.RUSAGE_CHILDREN):.0f} "
        f"MiB; one batch: {decoded:.1f} MiB decoded uint8, {fed:.1f} MiB "
        "float32 224x224 input"
    )


def main(argv):
    del argv
    if _MODE.value == "train":
        _train()
    else:
        _evaluators()


if __name__ == "__main__":
    app.run(main)
