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
weights (architecture, width, input size, source set, recipe), so a
changed setting never reuses a stale file. The source classifier is
trained at the backbone's standard strides and serves both feature-map
sizes (`source_model_config`).
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

    The source set is the "birds" generator with `num_classes` classes
    starting at generator class `class_offset` (disjoint from the target's
    classes 0 .. K-1), `train_per_class` training images each, heads
    `head_scale` x larger and its own `seed`; `body_rate`, `context_rate`
    `evidence_kinds` and `evidence_layout` are the generator's settings of
    the same names
    (None: the generator's default). Adam with a cosine-decayed
    `learning_rate` for `steps` steps of `batch_size`; the target's image
    size, crop and normalisation. `val_per_class` / `test_per_class` size
    the splits that measure the source features (None: 8 / 1).
    """

    num_classes: int = 8
    class_offset: int = 4
    head_scale: float = 2.0
    train_per_class: int = 150
    seed: int = 1000
    steps: int = 1000
    batch_size: int = 16
    learning_rate: float = 2e-3
    body_rate: float = None
    context_rate: float = None
    evidence_kinds: int = None
    evidence_layout: int = None
    val_per_class: int = None
    test_per_class: int = None

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def evidence_kind(self, look):
        """What decides generator class `look` in this recipe's source set
        (`synthetic_birds.evidence_kind`; unset fields: its defaults)."""
        from wsol_tf.data import synthetic_birds

        settings = {
            k: v
            for k, v in (
                ("evidence_kinds", self.evidence_kinds),
                ("evidence_layout", self.evidence_layout),
            )
            if v is not None
        }
        return synthetic_birds.evidence_kind(look, **settings)


# Named recipes (`tools/pretrain.py --recipe=NAME`).
RECIPES = {
    # The first stand-in: 8 classes, each decided by a head drawn 2x
    # larger. It teaches head detectors: fine-tuned CAMs sat on the heads.
    "heads8": PretrainRecipe(),
    # What ImageNet teaches, in kind: 20 classes, a third decided by the
    # head (plumage drawn at random), a third by the plumage of the whole
    # bird (a neutral head), a third by both; the background never
    # carries class evidence (context_rate 0); 8,000 images, 5,000 steps
    # of 32.
    "mixed20": PretrainRecipe(
        num_classes=20,
        class_offset=4,
        head_scale=1.5,
        train_per_class=400,
        seed=1000,
        steps=5000,
        batch_size=32,
        learning_rate=2e-3,
        body_rate=0.05,
        context_rate=0.0,
        evidence_kinds=3,
        val_per_class=25,
        test_per_class=10,
    ),
}
# mixed20 with the kinds spread over the head colours. In
# mixed20 every class decided by its head alone has head colour 0 or 3
# (kind = class % 3, colour = class % 6), the colours of the default set's
# classes 0 and 3, whose fine-tuned CAMs then sat on the head; no class is
# decided by a head of colour 1 or 4. Everything else as mixed20.
RECIPES["balanced20"] = RECIPES["mixed20"].replace(evidence_layout=1)
# The shipped one: balanced20 with the heads at the target's scale
# (ImageNet does not enlarge the parts that decide a class), twice the
# images and 8,000 steps: features of whole objects, learned longer from
# more of them.
RECIPES["natural20"] = RECIPES["balanced20"].replace(
    head_scale=1.0, train_per_class=800, steps=8000
)
DEFAULT_RECIPE = "natural20"
SOURCE = RECIPES[DEFAULT_RECIPE]
# Shipped weights files and their provenance records (package data).
PACKAGE_DIR = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "pretrained"
)


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
        synthetic_context_rate=recipe.context_rate,
        synthetic_evidence_kinds=recipe.evidence_kinds,
        synthetic_evidence_layout=recipe.evidence_layout,
        synthetic_train_per_class=recipe.train_per_class,
        synthetic_val_per_class=recipe.val_per_class or 8,
        synthetic_test_per_class=recipe.test_per_class or 1,
        synthetic_seed=recipe.seed,
        normalization=NORMALIZATION,
        batch_size=recipe.batch_size,
        seed=recipe.seed,
    )


def recipe_name(recipe):
    """The `RECIPES` name of `recipe`, or None."""
    return next((k for k, v in RECIPES.items() if v == recipe), None)


def recipe_settings(recipe):
    """The recipe's set fields as a dict: unset (None) fields are left out,
    so adding a field keeps old keys and records valid."""
    return {
        k: v for k, v in dataclasses.asdict(recipe).items() if v is not None
    }


def source_model_config(model_config):
    """The configuration the source classifier is pretrained in: the
    target's, at the backbone's standard strides. `large_feature_map`
    changes strides and pools, never a weight's shape, so one file serves
    both variants, as ImageNet weights (trained at stride 32) serve
    wsolevaluation's stride-16 and stride-8 variants."""
    return model_config.replace(large_feature_map=False)


def weights_key(model_config, data_config, recipe=None):
    """What the weights depend on: a JSON-able dict (the cache key)."""
    recipe = recipe or SOURCE
    model_config = source_model_config(model_config)
    return {
        "format": FORMAT,
        "architecture": model_config.architecture,
        "width_multiplier": model_config.width_multiplier,
        "large_feature_map": model_config.large_feature_map,
        "image_size": data_config.image_size,
        "resize_size": data_config.resize_size,
        "normalization": NORMALIZATION,
        "synthetic_image_size": data_config.synthetic_image_size,
        "recipe": recipe_settings(recipe),
    }


def weights_path(model_config, data_config, recipe=None):
    """The cache path of the synthetic weights for these settings."""
    key = weights_key(model_config, data_config, recipe)
    text = json.dumps(key, sort_keys=True)
    digest = hashlib.sha1(text.encode()).hexdigest()[:10]
    name = (
        f"{model_config.architecture}_w{model_config.width_multiplier:g}_"
        f"{data_config.image_size}px_{digest}.weights.h5"
    )
    cache = data_config.cache_dir or default_cache_dir()
    return os.path.join(cache, "pretrained", name)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_path(weights):
    """The provenance record beside a weights file (`x.weights.h5` ->
    `x.json`)."""
    return weights[: -len(".weights.h5")] + ".json"


def _diff(recorded, wanted, prefix=""):
    """`name: old -> new` for each entry that differs (nested dicts)."""
    out = []
    for k in sorted(set(recorded) | set(wanted)):
        a, b = recorded.get(k), wanted.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _diff(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {a} -> {b}")
    return out


def check_record(weights, model_config, data_config, recipe=None):
    """Checks a pretrained file against its record and these settings.

    Raises:
        ValueError, one line: the record is missing, the file's digest is
            not the recorded one, or the settings (architecture, sizes,
            recipe) differ from the recorded ones (each named, old -> new).

    Returns:
        The record (dict).
    """
    path = record_path(weights)
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no provenance record for {weights}.")
    with open(path) as f:
        record = json.load(f)
    digest = _sha256(weights)
    if digest != record.get("sha256"):
        raise ValueError(
            f"{weights}: sha256 {digest[:12]}... is not the recorded "
            f"{str(record.get('sha256'))[:12]}... ({path})."
        )
    wanted = json.loads(
        json.dumps(weights_key(model_config, data_config, recipe))
    )
    changes = _diff(record["key"], wanted)
    if changes:
        raise ValueError(
            f"{weights} was pretrained with other settings ({path}): "
            f"{'; '.join(changes)}."
        )
    return record


def shipped_weights(model_config, data_config, recipe=None):
    """The package's pretrained file for these settings, or None.

    A file ships for the default run's configuration (`PACKAGE_DIR`);
    it is returned only if its record matches the settings and its digest
    (`check_record`).
    """
    name = os.path.basename(weights_path(model_config, data_config, recipe))
    path = os.path.join(PACKAGE_DIR, name)
    if not os.path.isfile(path):
        return None
    check_record(path, model_config, data_config, recipe)
    return path


def _network_weights(model):
    return {
        layer.name: layer.get_weights()
        for layer in model.network.layers
        if layer.weights
    }


def build_source_model(model_config, data_config, recipe=None):
    """The source CAM classifier (random weights) of a recipe."""
    from wsol_tf.models import build_model

    recipe = recipe or SOURCE
    return build_model(
        source_model_config(model_config).replace(
            method="cam", num_classes=recipe.num_classes, weights=None
        ),
        image_size=data_config.image_size,
    )


def load_source_model(weights, model_config, data_config, recipe=None):
    """The source CAM classifier of a recipe with the network (`fc`
    included) of the wsol_tf weights file `weights` (`write_pretrained`)."""
    model = build_source_model(model_config, data_config, recipe)
    _, layers = weights_file.read_weights_file(weights)
    network = {layer.name: layer for layer in model.network.layers}
    for name, values in layers.items():
        network[name].set_weights(values)
    return model


def source_dataset(data_config, recipe=None):
    """The resolved source `DataConfig` of a recipe (generated once)."""
    return resolve_dataset(_source_data_config(data_config, recipe or SOURCE))


def source_predictions(model, source):
    """Predicted classes and labels of the source val images, in order."""
    import numpy as np

    preds, labels = [], []
    for batch in build_dataset(source, source.val_split, training=False):
        logits, _ = model.compute_cams(batch["images"], batch["labels"])
        preds += np.argmax(np.asarray(logits), -1).tolist()
        labels += np.asarray(batch["labels"]).tolist()
    return preds, labels


def measure_source(model, source, eval_config=None):
    """What the source features show, measured on the source splits.

    Returns:
        dict: `val_top1` (%), and on the source test split the CAM's
        `test_maxboxaccv2` and `test_top1`, the best centred Gaussian's
        `center_gaussian_maxboxaccv2`, and the CAM mass on the background
        / the head's share of the mass on the object / the head's share of
        the object's pixels (`cam_on_background`, `head_of_object`,
        `head_area`, %).
    """
    from wsol_tf.config import EvalConfig
    from wsol_tf.evaluation import evaluate_model
    from wsol_tf.evaluation.baselines import best_center_gaussian
    from wsol_tf.evaluation.part_share import part_share

    eval_config = eval_config or EvalConfig(cam_curve_interval=0.01)
    val = build_dataset(source, source.val_split, training=False)
    val_metrics = evaluate_model(model, val, eval_config)
    test = build_dataset(source, source.test_split, training=False)
    test_metrics = evaluate_model(model, test, eval_config)
    gaussian = best_center_gaussian(test, source.num_classes, eval_config)
    shares = part_share(model, source)
    return {
        "val_top1": val_metrics["top1_cls"],
        "val_maxboxaccv2": val_metrics["maxboxaccv2"],
        "test_images": test_metrics["num_images"],
        "test_top1": test_metrics["top1_cls"],
        "test_maxboxaccv2": test_metrics["maxboxaccv2"],
        "center_gaussian_maxboxaccv2": gaussian["best"]["maxboxaccv2"],
        "cam_on_background": shares["cam_on_background"],
        "head_of_object": shares["head_of_object"],
        "head_area": shares["head_area"],
    }


def train_source_model(
    model_config, data_config, precision="auto", recipe=None, verbose=0
):
    """Trains the source CAM classifier of a recipe; returns the model.

    The policy is set to `precision` for the training only; the model is
    returned in float32 variables (Keras' mixed policies keep them so).
    `verbose`: Keras' fit verbosity (a progress bar with ETA at 1, one
    line per 1/20 of the steps at 2).
    """
    recipe = recipe or SOURCE
    source = source_dataset(data_config, recipe)
    previous = keras.mixed_precision.global_policy()
    distribute.set_precision(precision)
    try:
        keras.utils.set_random_seed(recipe.seed)
        model = build_source_model(model_config, data_config, recipe)
        schedule = keras.optimizers.schedules.CosineDecay(
            recipe.learning_rate, decay_steps=recipe.steps, alpha=0.01
        )
        model.compile(
            optimizer=keras.optimizers.Adam(schedule), objective=LossConfig()
        )
        train = build_dataset(source, source.train_split, training=True)
        # Twenty "epochs" of steps / 20: a line (or a bar) every 5 %.
        chunks = 20 if recipe.steps % 20 == 0 else 1
        model.fit(
            train.repeat(),
            steps_per_epoch=recipe.steps // chunks,
            epochs=chunks,
            verbose=verbose,
        )
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return model


def write_pretrained(path, model, model_config, recipe=None, note=""):
    """Writes the source model's network as a wsol_tf weights file."""
    recipe = recipe or SOURCE
    with atomic_path(path) as tmp:
        weights_file.save_weights_file(
            tmp,
            _network_weights(model),
            architecture=model_config.architecture,
            layout="keras",
            normalization=NORMALIZATION,
            source=f"wsol_tf synthetic pretraining: {recipe}{note}",
        )
    return path


def ensure_synthetic_weights(
    model_config, data_config, precision="auto", recipe=None, verbose=True
):
    """Returns the path of the synthetic weights, training them once.

    The package ships the file of the default run's configuration
    (`shipped_weights`); other architectures, widths, sizes and recipes
    are pretrained on first use and cached.

    Args:
        model_config: the target's `ModelConfig` (its architecture and
            width are pretrained, at the standard strides; its method is
            not: the source model is a plain CAM classifier).
        data_config: the target's `DataConfig` (image size, crop,
            normalisation and cache directory).
        precision: dtype policy of the pretraining (`TrainConfig.precision`).
        recipe: `PretrainRecipe`; None: the module's `SOURCE` at call
            time (a bench may replace it, e.g. `--pretrain_recipe`).
        verbose: print one line before training and a progress bar.

    Returns:
        str, a wsol_tf weights file.
    """
    recipe = recipe or SOURCE
    shipped = shipped_weights(model_config, data_config, recipe)
    if shipped:
        return shipped
    path = weights_path(model_config, data_config, recipe)
    if os.path.isfile(path):
        return path
    if verbose:
        print(
            f"Pretraining the synthetic backbone once ({recipe.steps} steps "
            f"on {recipe.num_classes} source classes; cached at {path})",
            flush=True,
        )
    start = time.time()
    model = train_source_model(
        model_config,
        data_config,
        precision,
        recipe,
        verbose=2 if verbose else 0,
    )
    source = source_dataset(data_config, recipe)
    accuracy = model.evaluate(
        build_dataset(source, source.val_split, training=False),
        verbose=0,
        return_dict=True,
    )["accuracy"]
    write_pretrained(
        path,
        model,
        model_config,
        recipe,
        note=f"; source val top-1 {100.0 * accuracy:.1f} %",
    )
    if verbose:
        print(
            f"Pretrained in {time.time() - start:.0f} s: source val top-1 "
            f"{100.0 * accuracy:.1f} %",
            flush=True,
        )
    return path
