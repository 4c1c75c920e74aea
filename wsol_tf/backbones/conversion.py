"""Converts PyTorch state dicts into wsol_tf weights files or models.

The library side of `tools/convert_weights.py` (which reads the `.pth`
file with torch): numpy in, a wsol_tf weights file (`weights_file.py`,
torchvision layout, "imagenet" normalisation) or a whole `.keras`
`WSOLModel` out.

Example:
>>> state = {k: v.numpy() for k, v in torch_model.state_dict().items()}
>>> convert(state, "vgg16", "vgg16_cam.keras", method="cam")
>>> model = keras.saving.load_model("vgg16_cam.keras")
>>> logits, cams = model.compute_cams(images, class_ids)
"""

import os
import tempfile

import numpy as np

from wsol_tf import backbones
from wsol_tf.backbones import layouts
from wsol_tf.backbones import torch_names
from wsol_tf.backbones import weights_file
from wsol_tf.config import ModelConfig
from wsol_tf.io_utils import atomic_path


def _classifier_classes(architecture, layers):
    name = backbones.CLASSIFIER_NAMES[architecture]
    return layers[name][0].shape[-1] if name in layers else None


def _torch_shape(shape):
    """A Keras weight shape as PyTorch states it (HWIO -> OIHW, [in, out]
    -> [out, in])."""
    shape = tuple(int(d) for d in shape)
    if len(shape) == 4:
        return (shape[3], shape[2], shape[0], shape[1])
    if len(shape) == 2:
        return (shape[1], shape[0])
    return shape


def check_shapes(layers, network, source="state dict"):
    """Checks every converted tensor against the layer it will fill.

    Args:
        layers: `torch_names.convert_state_dict`'s `ConvertedLayers`.
        network: a Keras model holding the target layers (by name); layers
            it lacks are not checked here.
        source: name of the checkpoint, for the message.

    Raises:
        ValueError: one line naming each mismatching checkpoint parameter
            with the shape the model needs and the one it holds, e.g.
            `layer1.0.conv2.weight: expected (64, 64, 3, 3), found
            (64, 64, 1, 1)`.
    """
    targets = {layer.name: layer for layer in network.layers}
    wrong = []
    for name, values in layers.items():
        if name not in targets:
            continue
        expected = [_torch_shape(w.shape) for w in targets[name].weights]
        found = [_torch_shape(np.shape(v)) for v in values]
        keys = layers.sources[name]
        if len(expected) != len(found):
            wrong.append(
                f"{', '.join(keys)}: expected {len(expected)} tensors for "
                f"{name}, found {len(found)}"
            )
            continue
        wrong += [
            f"{key}: expected {want}, found {got}"
            for key, want, got in zip(keys, expected, found)
            if want != got
        ]
    if wrong:
        more = f" (and {len(wrong) - 3} more)" if len(wrong) > 3 else ""
        raise ValueError(
            f"{source} does not fit the model: {'; '.join(wrong[:3])}{more}."
        )


def convert(
    state_dict,
    architecture,
    output,
    *,
    method=None,
    num_classes=None,
    image_size=224,
    source="state dict",
):
    """Converts a PyTorch state dict; returns the path written.

    Every tensor's shape is checked against the model it is meant for
    (the `method` model, or the CAM model for a weights file) before
    anything is written; a mismatch leaves no output file.

    Args:
        state_dict: a PyTorch state dict as numpy arrays (or a dict
            holding one under `"state_dict"`), see `torch_names`.
        architecture: `"vgg16"`, `"resnet50"` or `"inceptionv3"`.
        output: output path; a `.keras` one with `method` writes a model.
        method: None, `"cam"` or `"adl"`.
        num_classes: expected classifier size (None: the checkpoint's).
        image_size: input side of a `.keras` model.
        source: name of the checkpoint, recorded in the file.

    Returns:
        `output`.
    """
    layers = torch_names.convert_state_dict(architecture, state_dict)
    found = _classifier_classes(architecture, layers)
    if num_classes is not None and found is not None and found != num_classes:
        raise ValueError(
            f"{source} has a {found}-class classifier. Received: "
            f"num_classes={num_classes}"
        )
    whole = method is not None and output.endswith(".keras")
    if whole and found is None and num_classes is None:
        raise ValueError(
            "The checkpoint has no classifier: a .keras model needs a whole "
            "wsolevaluation checkpoint (or write a weights file instead)."
        )
    model = _target_model(
        architecture,
        method or "cam",
        num_classes or found or 1,
        # A weights file fits any input size; check at a valid one.
        image_size
        if whole
        else max(image_size, backbones.MIN_IMAGE_SIZE[architecture]),
    )
    check_shapes(layers, model.network, source)
    metadata = dict(
        architecture=architecture,
        layout="torchvision",
        normalization=layouts.TORCHVISION_NORMALIZATION,
        source=source,
    )
    if not whole:
        with atomic_path(output) as tmp:
            weights_file.save_weights_file(tmp, layers, **metadata)
        return output
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "converted.weights.h5")
        weights_file.save_weights_file(path, layers, **metadata)
        _load_whole(model, path, architecture, method, image_size)
    with atomic_path(output, suffix=".keras") as tmp:
        model.save(tmp)
    return output


def _target_model(architecture, method, num_classes, image_size):
    """The torchvision-layout `WSOLModel` the checkpoint is converted for."""
    # Imported here: wsol_tf.models imports wsol_tf.backbones.
    from wsol_tf.models import WSOLModel

    model_config = ModelConfig(
        architecture=architecture, method=method, num_classes=num_classes
    )
    return WSOLModel(model_config, image_size, layout="torchvision")


def _load_whole(model, path, architecture, method, image_size):
    """Fills every weighted layer of `model` from the weights file `path`."""
    loaded = backbones.load_backbone_weights(
        model.network,
        architecture,
        path,
        input_shape=(image_size, image_size, 3),
        classifier=True,
    )
    weighted = [layer.name for layer in model.network.layers if layer.weights]
    missing = sorted(set(weighted) - set(loaded))
    if missing:
        raise ValueError(
            f"The checkpoint lacks the {architecture}-{method} layers "
            f"{missing}: a .keras model needs a whole wsolevaluation "
            "checkpoint (or write a weights file instead)."
        )
