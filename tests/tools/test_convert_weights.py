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

torch = pytest.importorskip(
    "torch", reason="the PyTorch reference needs torch (the test extra)"
)

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


def _imagenet_state(architecture, seed=1):
    """A torchvision ImageNet checkpoint's keys, random values.

    The backbone keys come from the reference CAM model; the layers the
    WSOL models drop (VGG16 `classifier.*`, InceptionV3 `Mixed_7*`,
    `AuxLogits`, `fc`) get small stand-ins; ResNet50 keeps a 1000-class fc.
    """
    classes = 1000 if architecture == "resnet50" else NUM_CLASSES
    model = reference.randomize(
        reference.MODELS[architecture]("cam", classes), seed
    )
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    for key in list(state):
        if key.startswith(("conv6.", "SPG_")) or (
            architecture == "vgg16" and key.startswith("fc.")
        ):
            del state[key]
    extra = {
        "vgg16": ("classifier.0.weight", "classifier.6.bias"),
        "resnet50": (),
        "inceptionv3": (
            "Mixed_7c.branch1x1.conv.weight",
            "AuxLogits.fc.weight",
            "fc.weight",
        ),
    }[architecture]
    for key in extra:
        state[key] = np.ones((3, 2), "float32")
    return model, state


@pytest.mark.parametrize("architecture", ["vgg16", "resnet50", "inceptionv3"])
def test_imagenet_checkpoint_becomes_torchvision_weights(
    architecture, tmp_path
):
    from wsol_tf.config import ModelConfig
    from wsol_tf.models import build_model

    torch_model, state = _imagenet_state(architecture)
    path = str(tmp_path / "imagenet.weights.h5")
    conversion.convert(state, architecture, path)
    metadata = weights_file.read_metadata(path)
    assert (metadata["layout"], metadata["normalization"]) == (
        "torchvision",
        "imagenet",
    )
    size = IMAGE_SIZE[architecture]
    config = ModelConfig(
        architecture=architecture, method="cam", num_classes=3, weights=path
    )
    model = build_model(config, image_size=size)
    assert model.layout == "torchvision"
    # The last backbone layer holds the torch weights (OIHW -> HWIO).
    name, torch_key = {
        "vgg16": ("block5_conv3", "features.28.weight"),
        "resnet50": ("conv5_block3_3_conv", "layer4.2.conv3.weight"),
        "inceptionv3": (
            "Mixed_6e_branch_pool_conv",
            "Mixed_6e.branch_pool.conv.weight",
        ),
    }[architecture]
    kernel = model.network.get_layer(name).get_weights()[0]
    np.testing.assert_array_equal(
        kernel, state[torch_key].transpose(2, 3, 1, 0)
    )
    if architecture != "resnet50":
        return
    # ILSVRC: the pretrained 1000-class fc, as wsolevaluation keeps it.
    config = ModelConfig(
        architecture="resnet50", method="cam", num_classes=1000, weights=path
    )
    model = build_model(config, image_size=size)
    backbones.load_backbone_weights(
        model.network,
        "resnet50",
        path,
        input_shape=(size, size, 3),
        classifier=True,
    )
    images, labels = _inputs("resnet50")
    expected_logits, expected_cams = _torch_outputs(torch_model, images, labels)
    logits, cams = model.compute_cams(images, labels)
    assert max_relative_difference(logits, expected_logits) <= TOLERANCE
    assert max_relative_difference(cams, expected_cams) <= TOLERANCE


def _run_tool(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", "convert_weights.py")]
        + list(args),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.mark.integration
def test_tool_writes_weights_file_and_names_bad_input(tmp_path):
    _, state = _imagenet_state("vgg16")
    checkpoint = str(tmp_path / "vgg16.pth")
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, checkpoint)
    output = str(tmp_path / "vgg16.weights.h5")
    result = _run_tool(
        f"--checkpoint={checkpoint}",
        "--architecture=vgg16",
        f"--output={output}",
    )
    assert result.returncode == 0, result.stderr
    metadata, layers = weights_file.read_weights_file(output)
    assert metadata["source"] == "vgg16.pth"
    assert "conv6" not in layers and "fc" not in layers
    np.testing.assert_array_equal(
        layers["block1_conv1"][1], state["features.0.bias"]
    )
    # A .keras model needs a whole checkpoint (conv6 and fc are missing).
    result = _run_tool(
        f"--checkpoint={checkpoint}",
        "--architecture=vgg16",
        "--method=cam",
        "--num_classes=3",
        f"--output={tmp_path / 'vgg16.keras'}",
    )
    assert result.returncode == 1
    assert "no classifier" in result.stderr
    # The wrong backbone names the parameter it lacks.
    result = _run_tool(
        f"--checkpoint={checkpoint}",
        "--architecture=resnet50",
        f"--output={output}",
    )
    assert result.returncode == 1
    assert "lacks the parameter conv1.weight" in result.stderr


def _damaged_resnet50(tmp_path):
    """A whole wsolevaluation ResNet50 CAM checkpoint whose
    layer1.0.conv2.weight is a 1x1 kernel instead of 3x3."""
    model = _torch_model("resnet50", "cam")
    state = model.state_dict()
    assert tuple(state["layer1.0.conv2.weight"].shape) == (64, 64, 3, 3)
    state["layer1.0.conv2.weight"] = state["layer1.0.conv2.weight"][
        :, :, 1:2, 1:2
    ].clone()
    checkpoint = str(tmp_path / "damaged.pth")
    torch.save(
        {"architecture": "x", "epoch": 3, "state_dict": state}, checkpoint
    )
    return checkpoint


def test_every_tensor_is_checked_before_anything_is_written(tmp_path):
    checkpoint = _damaged_resnet50(tmp_path)
    want = (
        "layer1.0.conv2.weight: expected (64, 64, 3, 3), found (64, 64, 1, 1)"
    )
    # The library: a weights file (backbone only) and a whole model.
    for output, method in (("x.weights.h5", None), ("x.keras", "cam")):
        with pytest.raises(ValueError, match=r"\(64, 64, 1, 1\)") as caught:
            conversion.convert(
                _read(checkpoint),
                "resnet50",
                str(tmp_path / "out" / output),
                method=method,
                source="damaged.pth",
            )
        assert str(caught.value).startswith("damaged.pth does not fit")
        assert want in str(caught.value)
    # The tool: one line naming the parameter, exit 1, no file left.
    for output, extra in (("x.weights.h5", []), ("x.keras", ["--method=cam"])):
        result = _run_tool(
            f"--checkpoint={checkpoint}",
            "--architecture=resnet50",
            f"--output={tmp_path / 'out' / output}",
            *extra,
        )
        assert result.returncode == 1, result.stderr
        lines = [
            line
            for line in result.stderr.splitlines()
            if line.startswith("ERROR")
        ]
        assert len(lines) == 1 and want in lines[0], result.stderr
        assert "layout" not in lines[0] and "tmp" not in lines[0]
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")
