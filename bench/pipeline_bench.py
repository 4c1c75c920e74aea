"""Input pipeline throughput vs. a training step's throughput.

    python bench/pipeline_bench.py            # default: ~1-2 min on 2 cores

Measures (1) images/s of the training pipeline (decode -> resize 256 ->
random crop 224 -> flip -> ImageNet normalisation, batch 32) on the
embedded synthetic dataset and (2) images/s of one training step (forward
+ backward + SGD update) of a plain keras.applications.ResNet50
(weights=None, 224 x 224) at batch 8, then prints both and their ratio. The
pipeline is not the bottleneck when the ratio is well above 1. Both run on
the same machine one after the other; during training they share the CPU
(on a GPU machine the CPU is left to the pipeline).

--synthetic_image_size=448 --train_per_class=16 makes decoding cost close
to CUB's (~500 x 375 JPEGs).
"""

import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from wsol_tf.config import DataConfig  # noqa: E402
from wsol_tf.data import build_dataset  # noqa: E402
from wsol_tf.data import resolve_dataset  # noqa: E402

_BATCH = flags.DEFINE_integer("batch_size", 32, "Pipeline batch size.")
_BATCHES = flags.DEFINE_integer("batches", 40, "Pipeline batches to time.")
_MODEL_BATCH = flags.DEFINE_integer("model_batch_size", 8, "Model batch.")
_MODEL_STEPS = flags.DEFINE_integer("model_steps", 5, "Model steps to time.")
_IMAGE_SIZE = flags.DEFINE_integer(
    "synthetic_image_size", 128, "Nominal side of the synthetic images."
)
_TRAIN = flags.DEFINE_integer("train_per_class", 64, "Synthetic train/class.")
_CACHE = flags.DEFINE_bool("cache", False, "DataConfig.cache.")
_CACHE_DIR = flags.DEFINE_string("cache_dir", "", "Synthetic dataset cache.")


def _pipeline_images_per_second(cfg):
    ds = build_dataset(cfg, cfg.train_split, training=True).repeat()
    it = iter(ds)
    for _ in range(3):  # warm-up: thread pools, autotuning
        next(it)
    start = time.perf_counter()
    for _ in range(_BATCHES.value):
        images, _ = next(it)
    images.numpy()
    seconds = time.perf_counter() - start
    return _BATCHES.value * cfg.batch_size / seconds, seconds


def _train_step_images_per_second(num_classes):
    model = keras.applications.ResNet50(
        weights=None, input_shape=(224, 224, 3), classes=num_classes
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
        loss="sparse_categorical_crossentropy",
    )
    batch = _MODEL_BATCH.value
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 224, 224, 3)).astype(np.float32)
    y = rng.integers(0, num_classes, batch).astype(np.int32)
    for _ in range(2):  # warm-up: tracing
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(_MODEL_STEPS.value):
        model.train_on_batch(x, y)
    seconds = time.perf_counter() - start
    return _MODEL_STEPS.value * batch / seconds, seconds


def main(argv):
    del argv
    cfg = DataConfig(
        batch_size=_BATCH.value,
        cache=_CACHE.value,
        cache_dir=_CACHE_DIR.value,
        synthetic_image_size=_IMAGE_SIZE.value,
        synthetic_train_per_class=_TRAIN.value,
    )
    start = time.perf_counter()
    cfg = resolve_dataset(cfg)
    print(f"dataset: {cfg.data_root} ({time.perf_counter() - start:.1f} s)")
    print(
        f"CPU cores visible: {os.cpu_count()}, TF "
        f"{tf.__version__}, devices: "
        f"{[d.device_type for d in tf.config.list_physical_devices()]}"
    )
    pipe, pipe_s = _pipeline_images_per_second(cfg)
    print(
        f"pipeline  (train, resize {cfg.resize_size} -> crop "
        f"{cfg.image_size}, batch {cfg.batch_size}): {pipe:8.1f} images/s "
        f"({_BATCHES.value} batches in {pipe_s:.1f} s)"
    )
    step, step_s = _train_step_images_per_second(cfg.num_classes)
    print(
        f"train step (keras ResNet50, 224, batch {_MODEL_BATCH.value}, fwd+bwd"
        f"): {step:8.1f} images/s ({_MODEL_STEPS.value} steps in "
        f"{step_s:.1f} s)"
    )
    print(f"ratio pipeline / train step: {pipe / step:.1f}x")


if __name__ == "__main__":
    app.run(main)
