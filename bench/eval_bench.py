"""Fast BoxEvaluator vs. the literal wsolevaluation loop, side by side.

    python bench/eval_bench.py                 # 1,000 maps, V2, interval 0.01
    python bench/eval_bench.py --v1_maps=200 --fine_maps=50   # + V1, + 0.001

Maps: random 14x14 uniform grids, cubic-upsampled to 224x224 and min-max
normalised (the shape of real CAMs: several smooth blobs), with 1-3 random
GT boxes each; everything seeded. The reference is
`wsol_tf.evaluation.reference.ReferenceBoxEvaluator` (wsolevaluation's
per-image, per-threshold `cv2.findContours` loop, verbatim); the fast path
is `BoxEvaluator.accumulate_batch` with `--workers` threads (MaxBoxAccV2
uses the C kernel `_fastboxes`, V1 OpenCV once per distinct level). The
script asserts that both give identical per-threshold hit counts and identical
`compute()` results, prints both wall times, CPU times (incl. worker
processes) and their ratios, and writes
`bench/results/eval_bench_<date>.json`. The machine's load average is
recorded: on a shared machine the wall ratio depends on it (the fast path
runs on all cores, the reference on one).
"""

import argparse
import datetime
import os
import resource
import time

import cv2
import numpy as np

from wsol_tf.evaluation.box_evaluator import BoxEvaluator
from wsol_tf.evaluation.box_evaluator import default_workers
from wsol_tf.evaluation.reference import ReferenceBoxEvaluator
from wsol_tf.io_utils import write_json


def realistic_maps(num, size, seed):
    """Smooth multi-blob score maps and random GT boxes."""
    rng = np.random.default_rng(seed)
    maps = np.empty((num, size, size), np.float64)
    boxes = []
    for i in range(num):
        grid = rng.random((14, 14))
        cam = cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
        cam -= cam.min()
        cam /= cam.max()
        maps[i] = cam
        k = int(rng.integers(1, 4))
        xy = np.sort(rng.integers(0, size, (k, 2, 2)), axis=1)
        boxes.append(
            np.stack([xy[:, 0, 0], xy[:, 0, 1], xy[:, 1, 0], xy[:, 1, 1]], 1)
        )
    return maps, boxes


def _cpu_seconds():
    """CPU time of this process and of its finished worker processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn):
    wall, cpu = time.perf_counter(), _cpu_seconds()
    fn()
    return time.perf_counter() - wall, _cpu_seconds() - cpu


def _same(ev, ref_counts, ref_result):
    """Identical hit counts, identical compute() (vs the reference)."""
    result = ev.compute()
    same_result = [result[t] for t in (30, 50, 70)] == [
        float(v) for v in ref_result
    ] and result["mean"] == float(np.average(ref_result))
    return bool(np.array_equal(ref_counts, ev.num_correct)), same_result


def run(num, size, interval, multi_contour, workers, seed):
    maps, boxes = realistic_maps(num, size, seed)
    ref = ReferenceBoxEvaluator(
        cam_curve_interval=interval, multi_contour_eval=multi_contour
    )
    fast = BoxEvaluator(
        cam_curve_interval=interval,
        multi_contour_eval=multi_contour,
        num_workers=workers,
    )
    load_before = os.getloadavg()[0]

    def reference_loop():
        for scoremap, gt in zip(maps, boxes):
            ref.accumulate(scoremap, gt)

    ref_wall, ref_cpu = _timed(reference_loop)
    fast_wall, fast_cpu = _timed(lambda: fast.accumulate_batch(maps, boxes))
    ref_counts = np.stack([ref.num_correct[t] for t in (30, 50, 70)])
    ref_result = ref.compute()
    fast_result = fast.compute()
    same_counts, same_result = _same(fast, ref_counts, ref_result)
    return {
        "num_maps": num,
        "map_size": size,
        "cam_curve_interval": interval,
        "multi_contour_eval": multi_contour,
        "workers": workers,
        "parallel": fast.parallel,
        "fast_path": "c" if multi_contour else "opencv",
        "reference_seconds": ref_wall,
        "fast_seconds": fast_wall,
        "ratio": ref_wall / fast_wall,
        "reference_cpu_seconds": ref_cpu,
        "fast_cpu_seconds": fast_cpu,
        "cpu_ratio": ref_cpu / fast_cpu,
        "load_average_1min": [load_before, os.getloadavg()[0]],
        "identical_hit_counts": same_counts,
        "identical_compute": same_result,
        "maxboxacc": {str(k): v for k, v in fast_result.items()},
    }


def _report(r):
    name = (
        "MaxBoxAccV2 (all contours)"
        if r["multi_contour_eval"]
        else ("V1 (largest contour)")
    )
    return (
        f"{name}: {r['num_maps']} maps {r['map_size']}x{r['map_size']}, "
        f"interval {r['cam_curve_interval']}, {r['workers']} worker(s), "
        f"load average {r['load_average_1min'][0]:.1f}\n"
        f"  reference loop : {r['reference_seconds']:8.2f} s wall "
        f"{r['reference_cpu_seconds']:8.2f} s CPU\n"
        f"  BoxEvaluator   : {r['fast_seconds']:8.2f} s wall "
        f"{r['fast_cpu_seconds']:8.2f} s CPU ({r['fast_path']} path)\n"
        f"  ratio          : {r['ratio']:8.1f}x wall "
        f"{r['cpu_ratio']:8.1f}x CPU\n"
        "  identical per-threshold hit counts: "
        f"{r['identical_hit_counts']}, "
        f"identical compute(): {r['identical_compute']}\n"
        f"  MaxBoxAcc: {r['maxboxacc']}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num_maps", type=int, default=1000)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument(
        "--v1_maps", type=int, default=0, help="also time V1 on this many maps"
    )
    parser.add_argument(
        "--fine_maps",
        type=int,
        default=0,
        help="also time MaxBoxAccV2 at interval 0.001 on this many maps",
    )
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    runs = [(args.num_maps, args.interval, True)]
    if args.v1_maps:
        runs.append((args.v1_maps, args.interval, False))
    if args.fine_maps:
        runs.append((args.fine_maps, 0.001, True))
    results = []
    for num, interval, multi in runs:
        r = run(num, args.size, interval, multi, args.workers, args.seed)
        results.append(r)
        print(_report(r), flush=True)
    ok = all(
        r["identical_hit_counts"] and r["identical_compute"] for r in results
    )
    output = args.output or os.path.join(
        os.path.dirname(os.path.abspath(__file__)),
        "results",
        f"eval_bench_{datetime.date.today().isoformat()}.json",
    )
    write_json(output, {"cpu_count": default_workers(), "runs": results})
    print(f"Wrote {output}")
    if not ok:
        raise SystemExit(
            "MISMATCH between the fast evaluator and the reference"
        )


if __name__ == "__main__":
    main()
