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

from wsol_tf import backbones
from wsol_tf.backbones import layouts
from wsol_tf.backbones import torch_names
from wsol_tf.backbones import weights_file
from wsol_tf.config import ModelConfig


def _classifier_classes(architecture, layers):
    name = backbones.CLASSIFIER_NAMES[architecture]
    return layers[name][0].shape[-1] if name in layers else None


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
    metadata = dict(
        architecture=architecture,
        layout="torchvision",
        normalization=layouts.TORCHVISION_NORMALIZATION,
        source=source,
    )
    if method is None or not output.endswith(".keras"):
        weights_file.save_weights_file(output, layers, **metadata)
        return output
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "converted.weights.h5")
        weights_file.save_weights_file(path, layers, **metadata)
        model = _whole_model(
            path, architecture, method, num_classes or found, image_size
        )
    model.save(output)
    return output


def _whole_model(path, architecture, method, num_classes, image_size):
    """A WSOLModel with every weighted layer read from `path`."""
    # Imported here: wsol_tf.models imports wsol_tf.backbones.
    from wsol_tf.models import build_model

    if num_classes is None:
        raise ValueError(
            "The checkpoint has no classifier: a .keras model needs a whole "
            "wsolevaluation checkpoint (or write a weights file instead)."
        )
    model_config = ModelConfig(
        architecture=architecture,
        method=method,
        num_classes=num_classes,
        weights=path,
    )
    model = build_model(model_config, image_size=image_size)
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
    return model
