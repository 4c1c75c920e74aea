"""Loads pretrained weights into a WSOL backbone (and its classifier).

`load_backbone_weights` builds the matching `keras.applications` model
(`include_top=False`) with the requested weights, then copies every
pretrained layer into the layer of the same role in our model: by name for
VGG16 and ResNet50, by creation order for InceptionV3 (see
`inception_v3.py`). Shapes are checked pair by pair.

Accepted `weights`:

- `"imagenet"`: Keras downloads (or reads from `~/.keras/models`) its
  no-top ImageNet file. Without network access this fails with one clear
  sentence instead of a urllib traceback.
- a path to a file in keras.applications format: a `.weights.h5` or `.h5`
  saved from `keras.applications.<Arch>(include_top=False, ...)`, or Keras'
  own `*_notop.h5` download;
- a path to a wsol_tf weights file (`weights_file.py`, written by
  `tools/convert_weights.py`): its layers are copied by name (backbone,
  head convs, and the classifier with `classifier=True`); the model must
  have been built with the file's layout (`weights_layout`);
- a path to a `.weights.h5` saved from our backbone alone,
  `keras.Model(inputs, build_backbone(architecture, inputs))`, built at
  `input_shape`; this also restores the new head convs. A local file is
  first read in this format (Keras raises on any layer it cannot fill, so
  a keras.applications VGG16 / InceptionV3 file fails here; a ResNet50 one
  has the very same layers and loads identically), then as a
  keras.applications file.

`classifier=True` also loads the pretrained classifier into the model's
`fc` / `SPG_A4` layer: from a wsol_tf file that holds one, or the
1000-class `predictions` layer of keras.applications' ResNet50 (whose
input is the same pooled layer4 map as ours). wsolevaluation does so for
ResNet50 on ILSVRC (see `pretrained_classifier`).
"""

import os
import warnings

import keras

from wsol_tf.backbones import inception_v3
from wsol_tf.backbones import resnet50
from wsol_tf.backbones import weights_file
from wsol_tf.backbones.registry import backbone_module


class WeightsUnavailableError(RuntimeError, ValueError):
    """Pretrained weights could not be obtained (offline ImageNet download).

    Subclasses both `RuntimeError` and `ValueError`, so either `except`
    clause catches it.
    """


def _layers_by_name(model):
    """All layers of `model` and of the models nested in it, by name."""
    found = {}

    def walk(container):
        for layer in getattr(container, "layers", []):
            found.setdefault(layer.name, []).append(layer)
            if isinstance(layer, keras.Model):
                walk(layer)

    walk(model)
    return found


def _copy(pairs, model, architecture, source):
    """Copies (our layer name, weights list) pairs into `model`."""
    layers = _layers_by_name(model)
    missing = [name for name, _ in pairs if name not in layers]
    if missing:
        raise ValueError(
            f"The model lacks {len(missing)} {architecture} backbone layers "
            f"needed to load {source}; was it built with build_backbone("
            f"'{architecture}', ...)? Received: missing={missing[:10]}"
        )
    for name, values in pairs:
        if len(layers[name]) > 1:
            raise ValueError(
                "Layer names must be unique to load weights. "
                f"Received: {len(layers[name])} layers named {name}"
            )
        target = layers[name][0]
        expected = [tuple(w.shape) for w in target.weights]
        received = [tuple(v.shape) for v in values]
        if expected != received:
            raise ValueError(
                f"Weight shapes of layer {name} do not match {source}: "
                f"expected {expected}. Received: shapes={received}"
            )
        target.set_weights(values)


def pretrained_classifier(architecture, method, dataset):
    """Whether wsolevaluation starts the classifier from ImageNet's.

    wsolevaluation `resnet.load_pretrained_model` keeps the checkpoint's
    1000-class `fc` for ILSVRC (whose classes are ImageNet's, in the same
    order) unless the method is ACoL or SPG; VGG16's `fc` (on conv6) and
    InceptionV3's `SPG_A4` have no pretrained counterpart. ICL, built on
    the ADL model, is treated like ADL (INFERRED).

    Args:
        architecture: `"vgg16"`, `"resnet50"` or `"inceptionv3"`.
        method: `"cam"`, `"adl"` or `"icl"`.
        dataset: dataset name, e.g. `"CUB"`, `"ILSVRC"`, `"OpenImages"`.

    Returns:
        bool, the `classifier` argument of `load_backbone_weights`.
    """
    backbone_module(architecture)
    return (
        architecture == "resnet50"
        and dataset == "ILSVRC"
        and method in ("cam", "adl", "icl")
    )


def _reference_model(module, weights, classifier=False):
    constructor = getattr(keras.applications, module.REFERENCE_NAME)
    if classifier:  # The top needs Keras' default (fixed) input size.
        return constructor(include_top=True, weights=weights)
    return constructor(
        include_top=False, weights=weights, input_shape=(None, None, 3)
    )


def _reference(module, architecture, weights, classifier=False):
    if weights != "imagenet":
        return _reference_model(module, weights, classifier)
    try:
        return _reference_model(module, "imagenet", classifier)
    except Exception:  # urllib / get_file raise bare Exceptions.
        raise WeightsUnavailableError(
            f"Could not download the ImageNet weights for {architecture} "
            "(no network access?): pass weights=<path to a local .h5 file "
            f"saved from keras.applications.{module.REFERENCE_NAME}"
            "(include_top=False)>."
        ) from None


def _creation_index(layer):
    # Keras auto-names layers `conv2d`, `conv2d_1`, ... in creation order.
    suffix = layer.name.rsplit("_", 1)[-1]
    return int(suffix) if suffix.isdigit() else 0


def _reference_layers(module, reference):
    """Keras layers paired with `module.pretrained_layer_names()`."""
    names = module.pretrained_layer_names()
    if module is not inception_v3:
        return [reference.get_layer(name) for name in names]
    # InceptionV3: auto-named conv / BN pairs, by creation order.
    count = len(names) // 2
    layers = reference.layers
    convs = [x for x in layers if isinstance(x, keras.layers.Conv2D)]
    bns = [x for x in layers if isinstance(x, keras.layers.BatchNormalization)]
    convs = sorted(convs, key=_creation_index)[:count]
    bns = sorted(bns, key=_creation_index)[:count]
    return [layer for pair in zip(convs, bns) for layer in pair]


def _reference_pairs(module, architecture, weights, classifier=False):
    if classifier and module is not resnet50:
        raise ValueError(
            f"keras.applications has no pretrained classifier for the "
            f"{architecture} WSOL head. Received: classifier=True"
        )
    reference = _reference(module, architecture, weights, classifier)
    names = module.pretrained_layer_names()
    ref_layers = _reference_layers(module, reference)
    if len(ref_layers) != len(names):
        raise ValueError(
            f"Expected {len(names)} pretrained {architecture} layers in "
            f"keras.applications. Received: count={len(ref_layers)}"
        )
    pairs = [(n, layer.get_weights()) for n, layer in zip(names, ref_layers)]
    if classifier:
        top = reference.get_layer("predictions").get_weights()
        pairs.append((module.CLASSIFIER_NAME, top))
    return pairs


def _file_pairs(module, architecture, weights, classifier):
    """(name, weights) pairs of a wsol_tf weights file."""
    metadata, layers = weights_file.read_weights_file(weights)
    if metadata["architecture"] != architecture:
        raise ValueError(
            f"{weights} holds {metadata['architecture']} weights. "
            f"Received: architecture={architecture}"
        )
    missing = [n for n in module.pretrained_layer_names() if n not in layers]
    if missing:
        raise ValueError(
            f"{weights} lacks {len(missing)} {architecture} backbone layers. "
            f"Received: missing={missing[:10]}"
        )
    names = module.pretrained_layer_names() + module.HEAD_NAMES
    if classifier:
        if module.CLASSIFIER_NAME not in layers:
            raise ValueError(
                f"{weights} has no classifier ({module.CLASSIFIER_NAME}) to "
                "load. Received: classifier=True"
            )
        names += (module.CLASSIFIER_NAME,)
    return [(name, layers[name]) for name in names if name in layers]


def _own_backbone_pairs(module, weights, input_shape):
    inputs = keras.Input(shape=input_shape)
    outputs = module.build(inputs, lambda position, x: x)
    own = keras.Model(inputs, outputs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        own.load_weights(weights)
    if caught:  # e.g. "layers will retain their freshly-initialized weights"
        raise ValueError(f"Partial load: {caught[0].message}")
    return [
        (layer.name, layer.get_weights())
        for layer in own.layers
        if layer.weights
    ]


def load_backbone_weights(
    model, architecture, weights, *, input_shape, classifier=False
):
    """Copies pretrained backbone weights into `model`.

    Args:
        model: a `keras.Model` that contains the layers made by
            `build_backbone(architecture, ...)` (directly or in a nested
            model), possibly with extra layers inserted.
        architecture: `"vgg16"`, `"resnet50"` or `"inceptionv3"`.
        weights: `"imagenet"` or a path to a local weights file (see the
            module docstring for the accepted formats).
        input_shape: `(H, W, 3)`, the model's input shape; used to check
            the input and to read weights saved from our own backbone.
        classifier: bool, also load the pretrained classifier (see the
            module docstring); its class count must match the model's.

    Returns:
        The list of our layer names that received weights.

    Raises:
        WeightsUnavailableError: `"imagenet"` cannot be downloaded.
        ValueError: unknown architecture, a missing or unreadable file, or
            a model without the backbone's layers.
    """
    module = backbone_module(architecture)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(
            "`input_shape` must be (height, width, 3). "
            f"Received: input_shape={input_shape}"
        )
    if weights is None:
        raise ValueError(
            "`weights` must be 'imagenet' or a path. Received: weights=None"
        )
    if weights != "imagenet":
        weights = os.fspath(weights)
        if not os.path.isfile(weights):
            raise ValueError(
                f"The {architecture} weights file does not exist. "
                f"Received: weights={weights}"
            )
    if weights == "imagenet":
        pairs = _reference_pairs(module, architecture, weights, classifier)
    elif weights_file.is_weights_file(weights):
        pairs = _file_pairs(module, architecture, weights, classifier)
    elif classifier:
        pairs = _reference_pairs(module, architecture, weights, classifier)
    else:
        try:
            pairs = _own_backbone_pairs(module, weights, input_shape)
        except Exception:
            try:
                pairs = _reference_pairs(module, architecture, weights)
            except Exception as error:
                raise ValueError(
                    f"Could not read {weights} as {architecture} weights: it "
                    f"is neither a keras.applications.{module.REFERENCE_NAME}"
                    "(include_top=False) file nor one of our backbone "
                    f"({type(error).__name__}: {str(error)[:300]}). "
                    f"Received: weights={weights}"
                ) from None
    source = weights
    if weights != "imagenet" and weights_file.is_weights_file(weights):
        layout = weights_file.read_metadata(weights)["layout"]
        source = f"{weights} (build the model with layout='{layout}')"
    _copy(pairs, model, architecture, source)
    return [name for name, _ in pairs]
