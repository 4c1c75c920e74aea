"""Speed of `tools/make_metadata.py` on a folder of real-size JPEGs.

    python bench/metadata_bench.py --num_files=100000 --classes=1000 \
        --root=/tmp/jpegs --output=bench/results/metadata_<date>.json

Writes `--num_files` JPEGs of 500 x 375 and 375 x 500 (cv2, quality 90; a
smooth random pattern upscaled plus pixel noise, ~100 kB each) into
`--classes` class folders laid out as ImageNet's train set (kept in
`--root` for later runs), then times the tool's steps on them: listing
the class folders, reading every image's size from its header (the
package's reader threads), writing the four metadata files. Before the
timing the file contents are evicted from the page cache where the
process may (`/proc/sys/vm/drop_caches`, as root), so that the headers
come from the disk; the result records whether they were.
"""

import concurrent.futures
import os
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

try:  # `python bench/metadata_bench.py` has bench/ on sys.path already
    import make_tables  # noqa: E402
except ImportError:  # imported as bench.metadata_bench
    from bench import make_tables  # noqa: E402

FLAGS = flags.FLAGS
IMAGENET_TRAIN = 1_281_167


def define_flags():
    flags.DEFINE_integer("num_files", 100_000, "JPEGs to write.")
    flags.DEFINE_integer("classes", 1000, "Class folders.")
    flags.DEFINE_string("root", "", "Where the JPEGs go (kept).")
    flags.DEFINE_integer(
        "workers", None, "Reader threads (default: the tool's)."
    )
    flags.DEFINE_string("output", "", "Result JSON.")


def _write_one(args):
    path, seed = args
    if os.path.exists(path):
        return
    rng = np.random.default_rng(seed)
    w, h = (500, 375) if seed % 2 else (375, 500)
    low = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    image = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    image = image + rng.normal(0, 6, (h, w, 3))
    cv2.imwrite(
        path,
        np.clip(image, 0, 255).astype(np.uint8),
        [cv2.IMWRITE_JPEG_QUALITY, 90],
    )


def write_jpegs(root, num_files, classes):
    """The class folders and JPEGs (files already there are kept)."""
    train = os.path.join(root, "train")
    jobs = []
    for i in range(num_files):
        folder = os.path.join(train, f"n{i % classes:08d}")
        if i < classes:
            os.makedirs(folder, exist_ok=True)
        jobs.append((os.path.join(folder, f"img_{i:07d}.JPEG"), i))
    with concurrent.futures.ProcessPoolExecutor() as pool:
        list(pool.map(_write_one, jobs, chunksize=256))
    return train


def drop_page_cache():
    """Evicts the page cache (root only); returns whether it could."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def main(argv):
    del argv
    from wsol_tf.data import folder_metadata

    if not FLAGS.root:
        raise app.UsageError("--root: expected a folder for the JPEGs.")
    meta = make_tables.machine_info()
    start = time.perf_counter()
    train = write_jpegs(FLAGS.root, FLAGS.num_files, FLAGS.classes)
    written = time.perf_counter() - start
    file_bytes = [
        os.path.getsize(os.path.join(d, n))
        for d, _, names in os.walk(train)
        for n in names
    ]
    files, size_gb = len(file_bytes), sum(file_bytes) / 1e9
    print(f"{files} JPEGs ({size_gb:.1f} GB) in {written:.0f} s", flush=True)
    evicted = drop_page_cache()
    t0 = time.perf_counter()
    scan = folder_metadata.scan_class_folders(train)
    t1 = time.perf_counter()
    sizes, problems = folder_metadata.read_image_sizes(scan, FLAGS.workers)
    t2 = time.perf_counter()
    out = os.path.join(FLAGS.root, "metadata", "train")
    folder_metadata.write_split(out, scan, sizes)
    t3 = time.perf_counter()
    rate = len(sizes) / (t2 - t1)
    result = {
        "meta": make_tables.finish_meta(meta),
        "num_files": files,
        "classes": FLAGS.classes,
        "gigabytes": size_gb,
        "page_cache_evicted": evicted,
        "workers": FLAGS.workers or folder_metadata.DEFAULT_WORKERS,
        "list_seconds": t1 - t0,
        "sizes_seconds": t2 - t1,
        "write_seconds": t3 - t2,
        "files_per_second": rate,
        "problems": len(problems),
        "imagenet_train_minutes": (
            IMAGENET_TRAIN / rate + (t1 - t0) * IMAGENET_TRAIN / files
        )
        / 60,
    }
    print(
        f"listing {t1 - t0:.1f} s, sizes {t2 - t1:.1f} s ({rate:,.0f} "
        f"files/s), writing {t3 - t2:.1f} s; page cache evicted: {evicted}; "
        f"ImageNet's {IMAGENET_TRAIN:,} train images: about "
        f"{result['imagenet_train_minutes']:.1f} min",
        flush=True,
    )
    if FLAGS.output:
        make_tables.write_json(FLAGS.output, result)


if __name__ == "__main__":
    define_flags()
    app.run(main)
