"""Input pipeline throughput in images per CPU-second, by stage and option.

    python bench/pipeline_bench.py                 # ~5 min on 2 cores
    python bench/pipeline_bench.py --write_readme  # also bench/README.md

Writes `--num_images` CUB-sized JPEGs (500 x 375 and the other shapes of
CUB, quality 90, ~70 kB each) with wsolevaluation-style metadata into a
temporary folder, then times on them:
- the training pipeline (`build_dataset(..., training=True)`: decode,
  resize to 256, random crop 224, flip, normalise, batch) and the
  evaluation pipeline (resize to 224, normalise, boxes), as the package
  builds them, plus the full-decode training crop they replaced;
- each stage alone in a `tf.data` map over the same files: read, decode,
  decode + resize, + crop / flip, + batch / normalise;
- the options: `decode_and_crop_jpeg` of the window of source pixels the
  crop reads, the IDCT method, `ratio=2`, `num_parallel_calls`,
  `deterministic=False`, file interleave, the cached evaluation split.

Throughput per core: by default (`--threads=1`) every timed `tf.data`
pipeline runs on one thread (a private pool of one, one thread per op),
so its images/s is what one core delivers; images per CPU-second
(`time.process_time`, every thread) is reported beside it. Cores to feed
a GPU = rate / (images/s on one core). The all-core rows then run the
package's training pipeline on every core, with TensorFlow's default
threading and with one thread per op (`max_intra_op_parallelism=1`), to
show how it scales; with thread pools, CPU time also counts their
spinning, so images per CPU-second understates a core's rate there.
"""

import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from bench import make_tables  # noqa: E402
from wsol_tf.config import DataConfig  # noqa: E402
from wsol_tf.data import build_dataset  # noqa: E402
from wsol_tf.data import image_ops  # noqa: E402
from wsol_tf.data import pipeline  # noqa: E402

_NUM = flags.DEFINE_integer("num_images", 512, "JPEGs to generate.")
_PASSES = flags.DEFINE_integer("passes", 2, "Timed passes over the files.")
_REPEATS = flags.DEFINE_integer(
    "repeats", 2, "Timings per row; the best (least disturbed) is kept."
)
_BATCH = flags.DEFINE_integer("batch_size", 64, "Batch size.")
_GPU_RATE = flags.DEFINE_integer(
    "gpu_images_per_second", 2500, "Images/s a GPU step eats."
)
_THREADS = flags.DEFINE_integer(
    "threads",
    1,
    "Threads of each timed tf.data pipeline (its private pool and each "
    "op's); 1 measures what one core delivers, 0 leaves TensorFlow's "
    "defaults. The all-core rows set their own.",
)
_ALL_CORES_ONLY = flags.DEFINE_bool(
    "all_cores_only",
    False,
    "Only the all-core rows, into --output (the bench runs itself so in a "
    "subprocess: TensorFlow's thread pools are sized once per process).",
)
_JPEG_ROOT = flags.DEFINE_string(
    "jpeg_root",
    "",
    "JPEGs and metadata this bench wrote already (the all-core subprocess "
    "times the same files); '' -> write --num_images into a temp folder.",
)
_OUTPUT = flags.DEFINE_string("output", "", "Result JSON (default: dated).")
_FROM_JSON = flags.DEFINE_string(
    "from_json", "", "Render this result JSON only (no measuring)."
)
_WRITE_README = flags.DEFINE_bool(
    "write_readme", False, "Rewrite the pipeline section of bench/README."
)

# CUB's common shapes (width, height).
_SHAPES = ((500, 375), (500, 333), (375, 500), (500, 400))
SIZE, CROP, EVAL = 256, 224, 224
KIND = "pipeline"


def write_dataset(root, n):
    """n JPEGs with natural-image-like spectra, and their metadata."""
    rng = np.random.default_rng(0)
    split = os.path.join(root, "metadata", "train")
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    os.makedirs(split, exist_ok=True)
    rows = {"image_ids": [], "class_labels": [], "image_sizes": []}
    rows["localization"] = []
    for i in range(n):
        w, h = _SHAPES[i % len(_SHAPES)]
        low = rng.integers(0, 256, (h // 16, w // 16, 3), dtype=np.uint8)
        mid = rng.integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8)
        image = (
            0.6 * cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
            + 0.3 * cv2.resize(mid, (w, h), interpolation=cv2.INTER_LINEAR)
            + rng.normal(0, 6, (h, w, 3))
        )
        name = f"images/{i:05d}.jpg"
        cv2.imwrite(
            os.path.join(root, name),
            np.clip(image, 0, 255).astype(np.uint8),
            [cv2.IMWRITE_JPEG_QUALITY, 90],
        )
        rows["image_ids"].append(name)
        rows["class_labels"].append(f"{name},{i % 10}")
        rows["image_sizes"].append(f"{name},{w},{h}")
        rows["localization"].append(
            f"{name},{w // 5},{h // 5},{w // 2},{h // 2}"
        )
    for key, lines in rows.items():
        with open(os.path.join(split, f"{key}.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
    return root


def _threading(pool, intra_op):
    """tf.data options: a private pool of `pool` threads and at most
    `intra_op` threads per op inside it (0: TensorFlow's defaults)."""
    options = tf.data.Options()
    if pool:
        options.threading.private_threadpool_size = pool
    if intra_op:
        options.threading.max_intra_op_parallelism = intra_op
    return options


def _time_pass(make_dataset, options=None):
    """(images per CPU-second, images/s) of the best of `--repeats`, on
    `--threads` threads unless `options` say otherwise."""
    best = None
    if options is None:
        options = _threading(_THREADS.value, _THREADS.value)
    for _ in range(_REPEATS.value):
        it = iter(make_dataset().with_options(options))
        next(it)  # warm-up: thread pools, autotuning, tracing
        cpu0, wall0, count = time.process_time(), time.perf_counter(), 0
        for batch in it:
            count += int(tf.nest.flatten(batch)[0].shape[0])
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
        row = (count / max(cpu, 1e-9), count / max(wall, 1e-9))
        best = row if best is None or row[0] > best[0] else best
    return best


def _mapped(files, fn, calls=tf.data.AUTOTUNE, deterministic=None, **kw):
    """A dataset mapping `fn` over the files `--passes` times, batched."""

    def make():
        ds = tf.data.Dataset.from_tensor_slices(files)
        ds = ds.repeat(_PASSES.value + 1)
        if kw.get("interleave"):
            ds = ds.interleave(
                lambda p: tf.data.Dataset.from_tensors(p),
                cycle_length=4,
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        ds = ds.map(fn, num_parallel_calls=calls, deterministic=deterministic)
        return ds.batch(_BATCH.value).prefetch(tf.data.AUTOTUNE)

    return make


def _pixel(image):
    """One value of `image`: forces its computation, costs nothing more
    (a static-shape or unused result could be pruned by the optimiser)."""
    return tf.reshape(image, [-1])[0]


def _decode(path, **kw):
    return tf.io.decode_jpeg(tf.io.read_file(path), channels=3, **kw)


def _draws(path):
    seed = tf.stack([tf.strings.to_hash_bucket_fast(path, 1 << 30), 0])
    return pipeline._crop_draws(tf.cast(seed, tf.int64), (SIZE, SIZE), CROP)


def _normalize_before(images, mode):
    """`image_ops.normalize_images` as it was: a per-channel broadcast
    along the last axis (and, for "caffe", a negative-stride slice)."""
    x = tf.cast(images, tf.float32)
    if mode == "caffe":
        return x[..., ::-1] - image_ops.CAFFE_MEAN_BGR
    return (x / 255.0 - image_ops.IMAGENET_MEAN) / image_ops.IMAGENET_STD


def _full_crop(path, flip_fn=lambda x: x[:, ::-1]):
    """The protocol crop from a full decode and a full resize, flipped as
    before (a negative-stride slice)."""
    oy, ox, flip = _draws(path)
    image = image_ops.resize_image(image_ops.read_image(path), SIZE)
    image = image[oy : oy + CROP, ox : ox + CROP]
    return tf.cond(flip, lambda: flip_fn(image), lambda: image)


def _package_crop(path, kernel="auto"):
    """The same crop, resampling only its pixels (the package's C kernel,
    or with kernel="tf" TensorFlow's op), flipped with tf.reverse."""
    oy, ox, flip = _draws(path)
    image = image_ops.resized_crop(
        image_ops.read_image(path), SIZE, oy, ox, CROP, kernel=kernel
    )
    return tf.cond(flip, lambda: tf.reverse(image, [1]), lambda: image)


def _op_crop(path):
    return _package_crop(path, kernel="tf")


def _source_range(in_size, start, margin=16):
    """`[lo, hi)` of the source pixels that output pixels `start ..
    start + CROP - 1` of the `SIZE` antialiased resize read (the triangle
    kernel widened by the downscale factor), plus `margin` (libjpeg's
    chroma upsampling differs at a cropped window's edges)."""
    inv_scale = tf.cast(in_size, tf.float32) / float(SIZE)
    radius = tf.maximum(inv_scale, 1.0)
    first = (float(start) + 0.5) * inv_scale - radius - 0.5
    last = (float(start + CROP) - 0.5) * inv_scale + radius
    lo = tf.cast(tf.math.floor(first), tf.int32) - margin
    hi = tf.cast(tf.math.ceil(last), tf.int32) + 1 + margin
    return tf.maximum(lo, 0), tf.minimum(hi, in_size)


def _window_decode(path):
    """decode_and_crop_jpeg of a centre crop window's source pixels."""
    contents = tf.io.read_file(path)
    shape = tf.io.extract_jpeg_shape(contents)
    y0, y1 = _source_range(shape[0], 16)
    x0, x1 = _source_range(shape[1], 16)
    return tf.io.decode_and_crop_jpeg(
        contents,
        tf.stack([y0, x0, y1 - y0, x1 - x0]),
        channels=3,
        dct_method="INTEGER_ACCURATE",
    )


def _timed(name, make, rows):
    rows[name] = _time_pass(make)
    cpu, wall = rows[name]
    print(f"  {name:50s} {cpu:8.1f} /CPU-s {wall:8.1f} /s", flush=True)


def stage_rows(files):
    accurate = {"dct_method": "INTEGER_ACCURATE"}
    read_resize = lambda p: image_ops.resize_image(  # noqa: E731
        image_ops.read_image(p), SIZE
    )
    stages = [
        ("read file", lambda p: tf.strings.length(tf.io.read_file(p))),
        ("decode (accurate IDCT, package)", lambda p: _decode(p, **accurate)),
        ("decode (INTEGER_FAST)", lambda p: _decode(p)),
        ("decode (ratio=2: 1/4 pixels)", lambda p: _decode(p, ratio=2)),
        ("decode_and_crop_jpeg of the crop's window", _window_decode),
        ("decode + resize 256", read_resize),
        (
            "decode + resize 256 + crop 224",
            lambda p: _full_crop(p, flip_fn=lambda x: x),
        ),
        ("decode + resize 256 + crop 224 + flip (before)", _full_crop),
        ("decode + crop-only resample (TF op) + flip", _op_crop),
        ("decode + crop-only resample + flip (package)", _package_crop),
    ]
    rows = {}
    for name, fn in stages:
        _timed(name, _mapped(files, lambda p, fn=fn: _pixel(fn(p))), rows)
    # Per-image ops on a 224 crop already in memory, and per batch.
    crop = tf.constant(
        np.random.default_rng(0).integers(0, 256, (CROP, CROP, 3), np.uint8)
    )
    n = max(2048, len(files) * _PASSES.value)
    ops = [
        ("flip: x[:, ::-1] (before)", lambda x: x[:, ::-1]),
        ("flip: tf.reverse (package)", lambda x: tf.reverse(x, [1])),
    ]
    for name, fn in ops:
        make = lambda fn=fn: (  # noqa: E731
            tf.data.Dataset.from_tensors(crop)
            .repeat(n)
            .map(lambda x: _pixel(fn(x)), num_parallel_calls=tf.data.AUTOTUNE)
            .batch(_BATCH.value)
        )
        _timed(name, make, rows)
    batch = tf.tile(crop[None], [_BATCH.value, 1, 1, 1])
    for mode in ("imagenet", "caffe"):
        for name, fn in (
            (f"normalise {mode} (before)", _normalize_before),
            (f"normalise {mode} (package)", image_ops.normalize_images),
        ):
            make = lambda fn=fn, mode=mode: (  # noqa: E731
                tf.data.Dataset.from_tensors(batch)
                .repeat(n // _BATCH.value)
                .map(lambda x: fn(x, mode), num_parallel_calls=tf.data.AUTOTUNE)
            )
            _timed(name, make, rows)
    return rows


def option_rows(files, cfg):
    def normalised(crop_fn, norm, mode="imagenet", **kw):
        def make():
            ds = _mapped(files, crop_fn, **kw)()
            return ds.map(
                lambda x: norm(x, mode), num_parallel_calls=tf.data.AUTOTUNE
            )

        return make

    def eval_before():
        ds = _mapped(
            files,
            lambda p: image_ops.resize_image(image_ops.read_image(p), EVAL),
        )()
        return ds.map(
            lambda x: _normalize_before(x, "imagenet"),
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    new = image_ops.normalize_images
    repeat = _PASSES.value + 1
    options = [
        ("train, before", normalised(_full_crop, _normalize_before)),
        ("train, package", normalised(_package_crop, new)),
        ("train, package with TF's resample op", normalised(_op_crop, new)),
        (
            "train, before, caffe normalisation",
            normalised(_full_crop, _normalize_before, "caffe"),
        ),
        (
            "train, package, caffe normalisation",
            normalised(_package_crop, new, "caffe"),
        ),
        (
            "train, package, num_parallel_calls=1",
            normalised(_package_crop, new, calls=1),
        ),
        (
            "train, package, deterministic=False",
            normalised(_package_crop, new, deterministic=False),
        ),
        (
            "train, package, file interleave",
            normalised(_package_crop, new, interleave=True),
        ),
        (
            "train, build_dataset (package, with shuffle and seeds)",
            lambda: build_dataset(cfg, "train", True).repeat(repeat),
        ),
        ("eval, before", eval_before),
        (
            "eval, build_dataset (package, with boxes)",
            lambda: build_dataset(cfg, "train", False).repeat(repeat),
        ),
        (
            "eval, build_dataset, cache=True (2nd pass on)",
            lambda: (
                build_dataset(cfg.replace(cache=True), "train", False)
                .repeat(repeat)
                .skip(-(-len(files) // cfg.eval_batch_size))
            ),
        ),
    ]
    rows = {}
    for name, make in options:
        _timed(name, make, rows)
    return rows


def scaling_rows(cfg):
    """The training pipeline on every core: each op free to use every core
    (TensorFlow's default) against one thread per op (the package's)."""
    cores = os.cpu_count()
    repeat = _PASSES.value + 1
    make = lambda: build_dataset(cfg, "train", True).repeat(repeat)  # noqa: E731
    rows = {}
    for name, options in (
        (
            f"train, {cores} cores, ops on every core (TF's default)",
            _threading(0, cores),
        ),
        (
            f"train, {cores} cores, one thread per op (package)",
            _threading(0, 1),
        ),
    ):
        rows[name] = _time_pass(make, options)
        cpu, wall = rows[name]
        print(f"  {name:50s} {cpu:8.1f} /CPU-s {wall:8.1f} /s", flush=True)
    return rows


def _all_cores_in_subprocess(root):
    """The all-core rows on the JPEGs in `root`, measured by this bench in
    a fresh process (this one's TensorFlow pools are one thread wide)."""
    import subprocess
    import sys

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "all_cores.json")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.pipeline_bench",
                "--all_cores_only",
                f"--output={out}",
                f"--jpeg_root={root}",
                f"--passes={_PASSES.value}",
                f"--repeats={_REPEATS.value}",
                f"--batch_size={_BATCH.value}",
            ],
            check=True,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        with open(out, encoding="utf-8") as f:
            return _as_dict(json.load(f)["all_cores"])


def _as_list(rows):
    """Rows in their measured order (JSON objects sort their keys)."""
    return [
        {"name": k, "images_per_cpu_second": cpu, "images_per_second": wall}
        for k, (cpu, wall) in rows.items()
    ]


def _as_dict(rows):
    return {
        r["name"]: (r["images_per_cpu_second"], r["images_per_second"])
        for r in rows
    }


def where_the_time_goes(result):
    """CPU milliseconds per training image, by stage, before and after."""
    st, op = _as_dict(result["stages"]), _as_dict(result["options"])

    def ms(rows, name):
        return 1000.0 / rows[name][0]

    def split(decode, crop, flip, norm, total):
        parts = {
            "decode": ms(st, decode),
            "resize + crop": ms(st, crop) - ms(st, decode),
            "flip": ms(st, flip) - ms(st, crop) if flip else 0.0,
            "normalise": ms(st, norm),
        }
        parts["tf.data + Python (the rest)"] = ms(op, total) - sum(
            parts.values()
        )
        return parts

    before = split(
        "decode (accurate IDCT, package)",
        "decode + resize 256 + crop 224",
        "decode + resize 256 + crop 224 + flip (before)",
        "normalise imagenet (before)",
        "train, before",
    )
    after = split(
        "decode (accurate IDCT, package)",
        "decode + crop-only resample + flip (package)",
        None,
        "normalise imagenet (package)",
        "train, package",
    )
    rows = [
        (k, f"{before[k]:.2f}", f"{after[k]:.2f}" if k != "flip" else "in crop")
        for k in before
    ]
    rows.append(
        (
            "total",
            f"{ms(op, 'train, before'):.2f}",
            f"{ms(op, 'train, package'):.2f}",
        )
    )
    return (
        "Where a training image's CPU time goes (ms per image, from the rows "
        "above; the rest is what the pipeline adds to its stages):\n\n"
        + make_tables.md_table(["stage", "before", "package"], rows)
    )


def render(result):
    rate = result["settings"]["gpu_images_per_second"]
    threads = result["settings"].get("threads", 0)
    wall_title = "images / s, one core" if threads == 1 else "images / s"
    # Cores to feed the GPU from a core's rate: its wall rate on one
    # thread; with thread pools, the CPU-time rate.
    per_core = 1 if threads == 1 else 0
    lines = []
    for title, rows in (
        ("Stage alone", _as_dict(result["stages"])),
        ("Pipeline / option", _as_dict(result["options"])),
    ):
        table = [
            (
                name,
                f"{cpu:.0f}",
                f"{wall:.0f}",
                f"{rate / max((cpu, wall)[per_core], 1e-9):.1f}",
            )
            for name, (cpu, wall) in rows.items()
        ]
        lines.append(
            make_tables.md_table(
                [
                    title,
                    "images / CPU-s",
                    wall_title,
                    f"cores for {rate}/s",
                ],
                table,
            )
        )
    if result.get("all_cores"):
        cores = result["meta"].get("cpu_count")
        lines.append(
            f"All {cores} cores (the package's training pipeline with its "
            "shuffle and seeds):\n\n"
            + make_tables.md_table(
                ["Threading", "images / CPU-s", "images / s", "per core"],
                [
                    (n, f"{c:.0f}", f"{w:.0f}", f"{w / max(cores or 1, 1):.0f}")
                    for n, (c, w) in _as_dict(result["all_cores"]).items()
                ],
            )
        )
    lines.append(where_the_time_goes(result))
    lines.append(
        f"Generated from `{make_tables.portable(result['path'])}`.  \n"
        + make_tables.provenance(result["meta"])
    )
    return "\n\n".join(lines)


def write_readme(text):
    readme = open(make_tables.README, encoding="utf-8").read()
    begin, end = f"<!-- BEGIN {KIND} -->", f"<!-- END {KIND} -->"
    head, rest = readme.split(begin, 1)
    _, tail = rest.split(end, 1)
    make_tables.write_text(
        make_tables.README, f"{head}{begin}\n{text}\n{end}{tail}"
    )


def main(argv):
    del argv
    if _FROM_JSON.value:
        with open(_FROM_JSON.value, encoding="utf-8") as f:
            result = json.load(f)
        result["path"] = _FROM_JSON.value
        text = render(result)
        print(text)
        if _WRITE_README.value:
            write_readme(text)
        return
    if _THREADS.value and not _ALL_CORES_ONLY.value:
        # Ops such as the resample run on TensorFlow's own intra-op pool,
        # which the tf.data options do not bound.
        tf.config.threading.set_intra_op_parallelism_threads(_THREADS.value)
        tf.config.threading.set_inter_op_parallelism_threads(_THREADS.value)
    meta = make_tables.machine_info()
    with tempfile.TemporaryDirectory() as tmp:
        root = _JPEG_ROOT.value or write_dataset(tmp, _NUM.value)
        files = sorted(
            os.path.join(root, "images", f)
            for f in os.listdir(os.path.join(root, "images"))
        )
        mb = sum(os.path.getsize(f) for f in files) / len(files) / 1e3
        print(f"{len(files)} JPEGs, {mb:.0f} kB each on average")
        cfg = DataConfig(
            dataset_name="bench",
            data_root=root,
            metadata_root=os.path.join(root, "metadata"),
            num_classes=10,
            batch_size=_BATCH.value,
            eval_batch_size=_BATCH.value,
            resize_size=SIZE,
            image_size=CROP,
            eval_image_size=EVAL,
        )
        if _ALL_CORES_ONLY.value:
            print("all cores:")
            make_tables.write_json(
                _OUTPUT.value, {"all_cores": _as_list(scaling_rows(cfg))}
            )
            return
        print("stages:")
        stages = stage_rows(files)
        print("options:")
        options = option_rows(files, cfg)
        scaling = _all_cores_in_subprocess(root)
    path = _OUTPUT.value or make_tables.result_path(KIND, "json")
    result = {
        "settings": {
            "num_images": len(files),
            "mean_file_kb": mb,
            "passes": _PASSES.value,
            "repeats": _REPEATS.value,
            "batch_size": _BATCH.value,
            "gpu_images_per_second": _GPU_RATE.value,
            "threads": _THREADS.value,
        },
        "stages": _as_list(stages),
        "options": _as_list(options),
        "all_cores": _as_list(scaling),
        "meta": make_tables.finish_meta(meta),
    }
    make_tables.write_json(path, result)
    result["path"] = path
    text = render(result)
    print(text)
    if _WRITE_README.value:
        write_readme(text)


if __name__ == "__main__":
    app.run(main)
