"""tools/convert_weights.py against PyTorch: wsolevaluation checkpoints.

For each backbone x {cam, adl}, a PyTorch re-statement of wsolevaluation's
model (`torch_wsol_reference.py`) gets random weights (BN statistics
included), is saved as wsolevaluation saves it, converted to a `.keras`
model, reloaded with `safe_mode=True`, and its logits and CAMs in
inference mode are compared with PyTorch's on the same images. Small
inputs keep the test fast; the weight shapes are the full ones.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch_wsol_reference as reference  # noqa: E402

from wsol_tf import backbones  # noqa: E402
from wsol_tf.backbones import conversion  # noqa: E402
from wsol_tf.backbones import weights_file  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
NUM_CLASSES = 5
IMAGE_SIZE = {"vgg16": 64, "resnet50": 64, "inceptionv3": 96}
TOLERANCE = 1e-4


def max_relative_difference(actual, expected):
    """max |actual - expected| / max |expected| (scale-free, one number)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


def _torch_model(architecture, method, seed=0):
    model = reference.MODELS[architecture](method, NUM_CLASSES)
    return reference.randomize(model, seed)


def _torch_outputs(model, images, labels):
    with torch.no_grad():
        logits, cams = model(
            torch.from_numpy(images.transpose(0, 3, 1, 2)),
            torch.from_numpy(labels),
        )
    return logits.numpy(), cams.numpy()


def _inputs(architecture, seed=0):
    rng = np.random.default_rng(seed)
    size = IMAGE_SIZE[architecture]
    images = rng.normal(size=(2, size, size, 3)).astype("float32")
    return images, np.array([1, 3], dtype="int64")


def _save_checkpoint(model, path, style):
    """As wsolevaluation saves (a dict holding the state dict) or plain."""
    state = model.state_dict()
    if style == "wsolevaluation":
        state = {"architecture": "x", "epoch": 3, "state_dict": state}
    elif style == "data_parallel":
        state = {f"module.{k}": v for k, v in state.items()}
    torch.save(state, path)


def _read(path):
    # What tools/convert_weights.py does (its read_checkpoint).
    from wsol_tf.backbones.torch_names import unwrap_checkpoint

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.numpy() for k, v in unwrap_checkpoint(checkpoint).items()}


@pytest.mark.parametrize("method", ["cam", "adl"])
@pytest.mark.parametrize("architecture", ["vgg16", "resnet50", "inceptionv3"])
def test_converted_model_matches_torch(architecture, method, tmp_path):
    model = _torch_model(architecture, method)
    style = "wsolevaluation" if method == "cam" else "data_parallel"
    checkpoint = str(tmp_path / "model.pth")
    _save_checkpoint(model, checkpoint, style)
    images, labels = _inputs(architecture)
    expected_logits, expected_cams = _torch_outputs(model, images, labels)

    output = str(tmp_path / "model.keras")
    conversion.convert(
        _read(checkpoint),
        architecture,
        output,
        method=method,
        num_classes=NUM_CLASSES,
        image_size=IMAGE_SIZE[architecture],
    )
    loaded = keras.saving.load_model(output, safe_mode=True)
    assert loaded.layout == "torchvision"
    logits, cams = loaded.compute_cams(images, labels)
    logits = keras.ops.convert_to_numpy(logits)
    cams = keras.ops.convert_to_numpy(cams)
    errors = (
        max_relative_difference(logits, expected_logits),
        max_relative_difference(cams, expected_cams),
    )
    print(
        f"{architecture}-{method}: max relative difference logits "
        f"{errors[0]:.2e}, CAMs {errors[1]:.2e}"
    )
    assert max(errors) <= TOLERANCE, errors
    # The outputs depend on the image (not only on biases).
    other, _ = _torch_outputs(model, images[::-1].copy(), labels)
    assert max_relative_difference(other, expected_logits) > 100 * TOLERANCE
