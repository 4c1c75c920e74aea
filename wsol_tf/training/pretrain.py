"""`weights="synthetic"`: a pretrained backbone that plays ImageNet's role.

WSOL methods fine-tune a backbone pretrained on ImageNet: the CAM of a
pretrained classifier is already peaked, which ICL's masks need. Offline,
and on a CPU budget, the package plays that stage on its own synthetic
data: a CAM classifier is trained once on a **source** synthetic set whose
classes are disjoint from the target's (generator classes
`SOURCE.class_offset ...`, other images, other seed), and its backbone is
cached the way keras.applications caches ImageNet weights:

    <cache_dir>/pretrained/<architecture>_w<width>_<size>px_<key>.weights.h5

The file is a wsol_tf weights file (`backbones/weights_file.py`, layout
"keras", with the normalisation it was trained with), so `build_model`
loads it like any other. The target's classifier starts from scratch, as
CUB's does from ImageNet. The cache key hashes everything that changes the
weights (architecture, width, feature-map size, input size, source set,
recipe), so a changed setting never reuses a stale file.
"""

import dataclasses
import hashlib
import json
import os
import time

import keras

from wsol_tf import distribute
from wsol_tf.backbones import weights_file
from wsol_tf.config import LossConfig
from wsol_tf.data import build_dataset
from wsol_tf.data import resolve_dataset
from wsol_tf.data.resolve import default_cache_dir
from wsol_tf.io_utils import atomic_path

SYNTHETIC_WEIGHTS = "synthetic"
# The protocol's input normalisation (torchvision mean / std): the weights
# file records it, so "auto" normalisation of a target run resolves to it.
NORMALIZATION = "imagenet"
FORMAT = 1  # bump when the recipe's code changes what it trains


@dataclasses.dataclass(frozen=True)
class PretrainRecipe:
    """The source set and the optimisation of the synthetic pretraining.

    The source set is the default synthetic generator with
    `num_classes` classes starting at generator class `class_offset`
    (disjoint from the target's classes 0 .. K-1), `train_per_class`
    training images each, heads `head_scale` x larger (a from-scratch
    classifier finds them sooner; measured: 12 source classes with
    target-size heads reached 44 % val top-1 in 900 steps, 8 classes with
    x2 heads 92 % in 1000) and its own `seed`. Adam with a cosine-decayed
    `learning_rate` for `steps` steps of `batch_size`; the target's image
    size, crop and normalisation.
    """

    num_classes: int = 8
    class_offset: int = 4
    head_scale: float = 2.0
    train_per_class: int = 150
    seed: int = 1000
    steps: int = 1000
    batch_size: int = 16
    learning_rate: float = 2e-3
    # The source's plumage rate (`synthetic_body_rate`); None: the
    # generator's default, the target's (the body helps, the head decides).
    body_rate: float = None


SOURCE = PretrainRecipe()


def _source_data_config(data_config, recipe):
    return data_config.replace(
        dataset_name="synthetic",
        data_root="",
        metadata_root="",
        mask_metadata_root="",
        num_classes=None,
        synthetic_num_classes=recipe.num_classes,
        synthetic_class_offset=recipe.class_offset,
        synthetic_head_scale=recipe.head_scale,
        synthetic_body_rate=recipe.body_rate,
        synthetic_train_per_class=recipe.train_per_class,
        synthetic_val_per_class=8,
        synthetic_test_per_class=1,
        synthetic_seed=recipe.seed,
        normalization=NORMALIZATION,
        batch_size=recipe.batch_size,
        seed=recipe.seed,
    )


def weights_path(model_config, data_config, recipe=None):
    """The cache path of the synthetic weights for these settings."""
    recipe = recipe or SOURCE
    key = {
        "format": FORMAT,
        "architecture": model_config.architecture,
        "width_multiplier": model_config.width_multiplier,
        "large_feature_map": model_config.large_feature_map,
        "image_size": data_config.image_size,
        "resize_size": data_config.resize_size,
        "normalization": NORMALIZATION,
        "synthetic_image_size": data_config.synthetic_image_size,
        # Unset (None) fields left out: adding one keeps old keys valid.
        "recipe": {
            k: v for k, v in dataclasses.asdict(recipe).items() if v is not None
        },
    }
    text = json.dumps(key, sort_keys=True)
    digest = hashlib.sha1(text.encode()).hexdigest()[:10]
    name = (
        f"{model_config.architecture}_w{model_config.width_multiplier:g}_"
        f"{data_config.image_size}px_{digest}.weights.h5"
    )
    cache = data_config.cache_dir or default_cache_dir()
    return os.path.join(cache, "pretrained", name)


def ensure_synthetic_weights(
    model_config, data_config, precision="auto", recipe=None, verbose=True
):
    """Returns the path of the synthetic weights, training them once.

    Args:
        model_config: the target's `ModelConfig` (its architecture, width
            and feature-map size are pretrained; its method is not: the
            source model is a plain CAM classifier).
        data_config: the target's `DataConfig` (image size, crop,
            normalisation and cache directory).
        precision: dtype policy of the pretraining (`TrainConfig.precision`).
        recipe: `PretrainRecipe`; None: the module's `SOURCE` at call
            time (a bench may replace it, e.g. `--pretrain_recipe`).
        verbose: print one line before and after training.

    Returns:
        str, a wsol_tf weights file.
    """
    recipe = recipe or SOURCE
    path = weights_path(model_config, data_config, recipe)
    if os.path.isfile(path):
        return path
    from wsol_tf.models import build_model

    source = resolve_dataset(_source_data_config(data_config, recipe))
    if verbose:
        print(
            f"Pretraining the synthetic backbone once ({recipe.steps} steps "
            f"on {source.num_classes} source classes; cached at {path})",
            flush=True,
        )
    start = time.time()
    previous = keras.mixed_precision.global_policy()
    distribute.set_precision(precision)
    try:
        keras.utils.set_random_seed(recipe.seed)
        model = build_model(
            model_config.replace(
                method="cam", num_classes=source.num_classes, weights=None
            ),
            image_size=data_config.image_size,
        )
        schedule = keras.optimizers.schedules.CosineDecay(
            recipe.learning_rate, decay_steps=recipe.steps, alpha=0.01
        )
        model.compile(
            optimizer=keras.optimizers.Adam(schedule), objective=LossConfig()
        )
        train = build_dataset(source, source.train_split, training=True)
        model.fit(train.repeat(), steps_per_epoch=recipe.steps, verbose=0)
        val = build_dataset(source, source.val_split, training=False)
        # The model's own accuracy metric (test_step), in %.
        accuracy = (
            100.0 * model.evaluate(val, verbose=0, return_dict=True)["accuracy"]
        )
        layers = {
            layer.name: layer.get_weights()
            for layer in model.network.layers
            if layer.weights
        }
    finally:
        keras.mixed_precision.set_global_policy(previous)
    with atomic_path(path) as tmp:
        weights_file.save_weights_file(
            tmp,
            layers,
            architecture=model_config.architecture,
            layout="keras",
            normalization=NORMALIZATION,
            source=(
                f"wsol_tf synthetic pretraining: {recipe}; source val top-1 "
                f"{accuracy:.1f} %"
            ),
        )
    if verbose:
        print(
            f"Pretrained in {time.time() - start:.0f} s: source val top-1 "
            f"{accuracy:.1f} %",
            flush=True,
        )
    return path
