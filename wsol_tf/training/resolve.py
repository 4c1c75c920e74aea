"""Resolving an experiment: what its data, weights and classes decide.

`resolve_experiment` is the one step that turns a user's
`ExperimentConfig` into the resolved one that training records in
config.json and evaluation, export and visualization read. It calls, in
order, `wsol_tf.data.resolve_dataset` (paths, generated synthetic sets,
number of classes), the synthetic pretraining for `weights="synthetic"`
and `resolve_normalization`. `resolve_dataset` stays in the data package:
it needs only a `DataConfig`, and the data pipeline, the dataset tools and
the synthetic pretraining's source set use it without a model.

`resolve_normalization` turns `DataConfig.normalization="auto"` into the
normalisation the model's weights were trained with
(`backbones.required_normalization`), and rejects an explicit one that
contradicts them. `loads_pretrained_classifier` says whether training
starts from the weights' 1000-class ImageNet classifier, as wsolevaluation
does for ResNet50 on ILSVRC. Both read no dataset; a wsol_tf weights file
is opened only to read its metadata.
"""

import dataclasses
import os

from wsol_tf import backbones
from wsol_tf.config import PROTOCOL_NORMALIZATION
from wsol_tf.data import resolve_dataset
from wsol_tf.training import pretrain

# wsol_tf dataset names -> wsolevaluation's `--dataset_name`.
REFERENCE_DATASET_NAMES = {
    "cub": "CUB",
    "ilsvrc": "ILSVRC",
    "openimages": "OpenImages",
}
IMAGENET_CLASSES = 1000


def _missing_file(weights):
    return weights not in (None, "imagenet") and not os.path.isfile(weights)


def _weights_kind(weights):
    if backbones.weights_layout(weights) == "torchvision":
        return "torchvision-layout weights"
    return "keras.applications weights"


def resolve_normalization(normalization, architecture, weights, check=True):
    """The input normalisation a run feeds its model.

    Args:
        normalization: `DataConfig.normalization` (`"auto"` or a name).
        architecture: `ModelConfig.architecture`.
        weights: `ModelConfig.weights` (None, `"imagenet"` or a path).
        check: bool, reject an explicit normalisation the weights were not
            trained with. False for a trained model (its weights are in
            its checkpoint; the recorded normalisation is what it was
            trained on, right or wrong).

    Returns:
        `"auto"`: `backbones.required_normalization(architecture, weights)`,
        or `PROTOCOL_NORMALIZATION` ("imagenet") without weights. An
        explicit value is returned as is when it agrees with the weights
        (or when there are none, or when a weights path no longer exists,
        as in the config.json of a finished run).

    Raises:
        ValueError: an explicit normalisation the weights were not trained
            with, or "auto" with a weights path that does not exist.

    Example:
    >>> resolve_normalization("auto", "resnet50", "imagenet")
    'caffe'
    >>> resolve_normalization("auto", "vgg16", None)
    'imagenet'
    """
    if normalization != "auto" and not check:
        return normalization
    if _missing_file(weights):
        if normalization == "auto":
            raise ValueError(
                "--normalization=auto reads the weights file, which does "
                f"not exist: pass an existing --weights or an explicit "
                f"--normalization. Received: weights={weights}"
            )
        return normalization
    required = backbones.required_normalization(architecture, weights)
    if normalization == "auto":
        return required or PROTOCOL_NORMALIZATION
    if required is not None and normalization != required:
        raise ValueError(
            f"--normalization={normalization} contradicts --weights="
            f"{weights} for {architecture}: "
            f"{_weights_kind(weights)} need {required!r} "
            "(or leave --normalization=auto)."
        )
    return normalization


def loads_pretrained_classifier(model_config, dataset_name):
    """Whether training starts from the weights' ImageNet classifier.

    wsolevaluation's rule (`backbones.pretrained_classifier`: ResNet50 on
    ILSVRC), for a model with weights and ImageNet's 1000 classes.

    Args:
        model_config: a `ModelConfig` with `num_classes` set.
        dataset_name: `DataConfig.dataset_name`.

    Returns:
        bool, the `classifier` argument of `models.build_model`.
    """
    reference = REFERENCE_DATASET_NAMES.get(dataset_name)
    return (
        model_config.weights is not None
        and reference is not None
        and model_config.num_classes == IMAGENET_CLASSES
        and backbones.pretrained_classifier(
            model_config.architecture, model_config.method, reference
        )
    )


def resolve_experiment(config, *, trained=False):
    """Resolves the weights, the normalisation, the dataset and the classes.

    The dataset is resolved first (paths, labels), then
    `model.weights="synthetic"` becomes the cached file of the synthetic
    pretraining (`pretrain.ensure_synthetic_weights`, trained once).
    `data.normalization` "auto" becomes the one the model's weights need
    (`resolve_normalization`; an explicit one contradicting them raises
    unless `trained`: the config of an already trained model, whose
    recorded normalisation stands). The result is what config.json records and
    evaluation / export / visualization read.
    """
    config.validate()
    # The dataset first: a missing or bad dataset fails before pretraining.
    data_config = resolve_dataset(config.data)
    model = config.model
    if model.weights == pretrain.SYNTHETIC_WEIGHTS:
        model = model.replace(
            weights=pretrain.ensure_synthetic_weights(
                model, data_config, precision=config.train.precision
            )
        )
    normalization = resolve_normalization(
        config.data.normalization,
        model.architecture,
        model.weights,
        check=not trained,
    )
    return dataclasses.replace(
        config,
        data=data_config.replace(normalization=normalization),
        model=model.replace(num_classes=data_config.num_classes),
    )
