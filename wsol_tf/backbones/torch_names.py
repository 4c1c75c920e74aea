"""Maps PyTorch state dicts (as numpy arrays) onto our layer names.

Reads torchvision ImageNet checkpoints (`vgg16-397923af.pth`,
`resnet50-19c8e357.pth`, `inception_v3_google-1a9a5a14.pth`) and whole
wsolevaluation CAM / ADL models (`VggCam`, `ResNetCam`, `ResNetAdl`,
`InceptionCam`, `InceptionAdl`) of the three backbones. Parameter-free
modules shift PyTorch's `Sequential` indices (ADL inside VGG's `features`
or a ResNet layer, `align_layer` in wsolevaluation), so convs and blocks
are numbered by order, not by index. Layers of the ImageNet classifiers
that the WSOL models drop (VGG16 `classifier.*`, InceptionV3 `Mixed_7*`,
`AuxLogits.*`, `fc.*`) are ignored. No torch import: the values are
numpy arrays (`tools/convert_weights.py` reads the `.pth` file).

Example:
>>> layers = convert_state_dict("resnet50", {k: v.numpy() for k, v in sd})
>>> layers["conv2_block1_2_conv"][0].shape  # HWIO
(3, 3, 64, 64)
"""

import collections
import re

import numpy as np

from wsol_tf.backbones import inception_v3
from wsol_tf.backbones import resnet50
from wsol_tf.backbones import vgg16

_BN = ("weight", "bias", "running_mean", "running_var")
_IGNORED = {
    "vgg16": ("classifier.",),
    "resnet50": (),
    "inceptionv3": ("Mixed_7", "AuxLogits.", "fc."),
}


def unwrap_checkpoint(checkpoint):
    """The state dict of a loaded `.pth`: itself, or its `"state_dict"`.

    wsolevaluation saves `{"architecture", "epoch", "state_dict",
    "optimizer"}`; `nn.DataParallel` prefixes keys with `module.`.
    """
    if isinstance(checkpoint, dict) and isinstance(
        checkpoint.get("state_dict"), dict
    ):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, dict):
        raise ValueError(
            "Expected a state dict or a dict holding one under "
            f"'state_dict'. Received: {type(checkpoint).__name__}"
        )
    return {
        (k[len("module.") :] if k.startswith("module.") else k): v
        for k, v in checkpoint.items()
    }


def _conv(weight, bias=None):
    """OIHW -> HWIO (+ bias)."""
    kernel = np.transpose(np.asarray(weight, "float32"), (2, 3, 1, 0))
    return [kernel] if bias is None else [kernel, np.asarray(bias, "float32")]


def _dense(weight, bias):
    return [np.asarray(weight, "float32").T, np.asarray(bias, "float32")]


class _Reader:
    """Pops keys of a state dict; reports any that were never used."""

    def __init__(self, architecture, state_dict):
        self.architecture = architecture
        self.state = {
            k: v
            for k, v in state_dict.items()
            if not k.endswith("num_batches_tracked")
            and not k.startswith(_IGNORED[architecture])
        }
        self.popped = []

    def pop(self, key):
        if key not in self.state:
            raise ValueError(
                f"The {self.architecture} checkpoint lacks the parameter "
                f"{key}. Received: keys like {sorted(self.state)[:5]}"
            )
        self.popped.append(key)
        return self.state.pop(key)

    def taken(self):
        """The keys popped since the last call, in order."""
        keys, self.popped = self.popped, []
        return keys

    def has(self, prefix):
        return any(k.startswith(prefix) for k in self.state)

    def bn(self, prefix):
        return [np.asarray(self.pop(f"{prefix}.{n}"), "float32") for n in _BN]

    def finish(self, layers):
        if self.state:
            raise ValueError(
                f"Unexpected parameters in the {self.architecture} "
                f"checkpoint (is it a CAM / ADL model of this backbone?). "
                f"Received: {sorted(self.state)[:10]}"
            )
        return layers


class ConvertedLayers(collections.OrderedDict):
    """`{our layer name: list of arrays}`, plus where each array came from.

    `sources[name][i]` is the PyTorch parameter that became
    `self[name][i]` (the converters pop a layer's parameters in the order
    of its `get_weights()`), so a shape error can name the checkpoint's
    parameter rather than our layer.
    """

    def __init__(self, reader):
        super().__init__()
        self.sources = {}
        self._reader = reader

    def __setitem__(self, name, arrays):
        super().__setitem__(name, arrays)
        self.sources[name] = self._reader.taken()


def _indices(keys, pattern):
    """Sorted distinct integers captured by `pattern` in `keys`."""
    found = {int(m.group(1)) for k in keys if (m := re.match(pattern, k))}
    return sorted(found)


def _head(reader, layers, name, torch_name, dense=False):
    """An optional head layer (conv6, SPG_*, fc) if the checkpoint has it."""
    if not reader.has(f"{torch_name}.weight"):
        return
    weight = reader.pop(f"{torch_name}.weight")
    bias = reader.pop(f"{torch_name}.bias")
    layers[name] = _dense(weight, bias) if dense else _conv(weight, bias)


def _vgg16(reader):
    layers = ConvertedLayers(reader)
    indices = _indices(reader.state, r"features\.(\d+)\.weight$")
    names = vgg16.pretrained_layer_names()
    if len(indices) != len(names):
        raise ValueError(
            f"Expected {len(names)} convs in the vgg16 checkpoint's "
            f"`features`. Received: {len(indices)}"
        )
    for name, index in zip(names, indices):
        layers[name] = _conv(
            reader.pop(f"features.{index}.weight"),
            reader.pop(f"features.{index}.bias"),
        )
    _head(reader, layers, "conv6", "conv6")
    _head(reader, layers, "fc", "fc", dense=True)
    return layers


def _resnet50(reader):
    layers = ConvertedLayers(reader)
    layers["conv1_conv"] = _conv(reader.pop("conv1.weight"))
    layers["conv1_bn"] = reader.bn("bn1")
    for layer, (stage, _, num_blocks, _) in enumerate(resnet50._STAGES, 1):
        indices = _indices(reader.state, rf"layer{layer}\.(\d+)\.")
        if len(indices) != num_blocks:
            raise ValueError(
                f"Expected {num_blocks} blocks in layer{layer} of the "
                f"resnet50 checkpoint. Received: {len(indices)}"
            )
        for b, index in enumerate(indices, 1):
            torch_block = f"layer{layer}.{index}"
            name = f"{stage}_block{b}"
            if b == 1:
                layers[f"{name}_0_conv"] = _conv(
                    reader.pop(f"{torch_block}.downsample.0.weight")
                )
                layers[f"{name}_0_bn"] = reader.bn(
                    f"{torch_block}.downsample.1"
                )
            for k in (1, 2, 3):
                layers[f"{name}_{k}_conv"] = _conv(
                    reader.pop(f"{torch_block}.conv{k}.weight")
                )
                layers[f"{name}_{k}_bn"] = reader.bn(f"{torch_block}.bn{k}")
    _head(reader, layers, "fc", "fc", dense=True)
    return layers


def _inceptionv3(reader):
    layers = ConvertedLayers(reader)
    for name in inception_v3._conv_bn_names():
        # Conv2d_1a_3x3 / Mixed_5b_branch5x5_1 <- Mixed_5b.branch5x5_1.
        torch_name = re.sub(r"^(Mixed_\w\w)_", r"\1.", name)
        layers[f"{name}_conv"] = _conv(reader.pop(f"{torch_name}.conv.weight"))
        layers[f"{name}_bn"] = reader.bn(f"{torch_name}.bn")
    for name in inception_v3.HEAD_NAMES:
        _head(reader, layers, name, f"{name}.0")
    _head(reader, layers, "SPG_A4", "SPG_A4")
    return layers


_CONVERTERS = {
    "vgg16": _vgg16,
    "resnet50": _resnet50,
    "inceptionv3": _inceptionv3,
}


def convert_state_dict(architecture, state_dict):
    """Our layer weights from a PyTorch state dict of numpy arrays.

    Args:
        architecture: `"vgg16"`, `"resnet50"` or `"inceptionv3"`.
        state_dict: dict `{torch parameter name: numpy array}` (see
            `unwrap_checkpoint`).

    Returns:
        `ConvertedLayers`, an OrderedDict `{our layer name: list of
        arrays}` in the order of the layer's `get_weights()` in the
        torchvision layout (conv kernels HWIO; BN gamma, beta, moving
        mean, moving variance; dense kernels `[in, out]`), whose `sources`
        names the PyTorch parameter of each array. Head layers (VGG16
        `conv6`, InceptionV3 `SPG_A3_*`) and the classifier (`fc` /
        `SPG_A4`) are included when present.

    Raises:
        ValueError: a missing backbone parameter or an unexpected one.
    """
    if architecture not in _CONVERTERS:
        raise ValueError(
            f"Unknown architecture. Expected one of {tuple(_CONVERTERS)}. "
            f"Received: architecture={architecture}"
        )
    reader = _Reader(architecture, unwrap_checkpoint(state_dict))
    return reader.finish(_CONVERTERS[architecture](reader))
