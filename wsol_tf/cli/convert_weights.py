r"""Convert PyTorch (torchvision / wsolevaluation) checkpoints to wsol_tf.

    # torchvision ImageNet weights -> a wsol_tf weights file, for training:
    python tools/convert_weights.py --checkpoint=resnet50-19c8e357.pth \
        --architecture=resnet50 --output=resnet50_torchvision.weights.h5
    python tools/train.py --flagfile=flags/cub_resnet50_cam.flags \
        --weights=resnet50_torchvision.weights.h5

    # the same, downloaded (resumed, its sha256 prefix checked) into
    # keras.applications' cache (~/.keras/models), architecture implied:
    python tools/convert_weights.py --checkpoint=torchvision:resnet50 \
        --output=resnet50_torchvision.weights.h5

    # a model trained with wsolevaluation -> a whole Keras model:
    python tools/convert_weights.py --checkpoint=last_checkpoint.pth.tar \
        --architecture=vgg16 --method=cam --num_classes=200 \
        --output=vgg16_cam.keras

Inputs (read with `torch.load(weights_only=True)`): torchvision's
`vgg16-397923af.pth`, `resnet50-19c8e357.pth`,
`inception_v3_google-1a9a5a14.pth`, or a whole wsolevaluation CAM / ADL
checkpoint (its state dict, or the dict it saves holding one).

Outputs: without `--method` (or with an output not ending in `.keras`),
a wsol_tf weights file in the torchvision layout that records its
normalisation ("imagenet"); building a model with `weights=<file>` gives
the torchvision graphs by itself. With `--method` and `OUT.keras`, a
whole `WSOLModel` (every layer from the checkpoint) that
`keras.saving.load_model(OUT, safe_mode=True)` loads after
`import wsol_tf`; its `compute_cams(images, class_ids)` returns
`(logits, cams)` for NHWC float32 images normalised as the PyTorch
model's input (torchvision mean / std on RGB in [0, 1]).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TF C++ start-up

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from wsol_tf.cli import flagfiles  # noqa: E402
from wsol_tf.cli.errors import run_tool  # noqa: E402

CHECKPOINT = flagfiles.define_once(
    flags.DEFINE_string,
    "checkpoint",
    None,
    "PyTorch checkpoint (.pth) to convert, or torchvision:<vgg16|resnet50|"
    "inceptionv3>: README's torchvision ImageNet checkpoint, downloaded into "
    "keras' cache ($WSOL_TF_MIRROR/<file name> where set).",
    required=True,
)
ARCHITECTURE = flagfiles.define_once(
    flags.DEFINE_enum,
    "architecture",
    None,
    ["vgg16", "resnet50", "inceptionv3"],
    "Backbone of the checkpoint (implied by torchvision:<architecture>).",
)
METHOD = flagfiles.define_once(
    flags.DEFINE_enum,
    "method",
    None,
    ["cam", "adl"],
    "wsolevaluation method of a whole checkpoint; with an OUT ending in "
    ".keras, writes a whole model.",
)
NUM_CLASSES = flagfiles.define_once(
    flags.DEFINE_integer,
    "num_classes",
    None,
    "Classes of the classifier (default: read from the checkpoint).",
    lower_bound=1,
)
IMAGE_SIZE = flagfiles.define_once(
    flags.DEFINE_integer,
    "image_size",
    224,
    "Input side of a .keras model (see WSOLModel.with_image_size).",
    lower_bound=32,
)
OUTPUT = flagfiles.define_once(
    flags.DEFINE_string,
    "output",
    None,
    "Output weights file or .keras model.",
    required=True,
)


def read_checkpoint(path):
    """The `.pth` file's state dict as numpy arrays (torch on CPU)."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise app.UsageError(
            f"--checkpoint: could not read {path} as a PyTorch checkpoint "
            f"({type(error).__name__}: {str(error)[:200]})."
        ) from None
    from wsol_tf.backbones.torch_names import unwrap_checkpoint

    state = unwrap_checkpoint(checkpoint)
    return {
        k: v.detach().cpu().numpy()
        for k, v in state.items()
        if isinstance(v, torch.Tensor)
    }


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    checkpoint, architecture = CHECKPOINT.value, ARCHITECTURE.value
    if checkpoint.startswith("torchvision:"):
        from wsol_tf.downloads import torchvision_checkpoint

        implied = checkpoint.split(":", 1)[1].replace("_", "")
        if architecture not in (None, implied):
            raise app.UsageError(
                f"--architecture={architecture} contradicts "
                f"--checkpoint={checkpoint}."
            )
        architecture, checkpoint = implied, torchvision_checkpoint(implied)
    if architecture is None:
        raise app.UsageError("--architecture: needed for a checkpoint file.")
    if not os.path.isfile(checkpoint):
        raise app.UsageError(
            f"--checkpoint: no such file. Received: {CHECKPOINT.value}"
        )
    if OUTPUT.value.endswith(".keras") and METHOD.value is None:
        raise app.UsageError(
            "--output: a .keras model needs --method (cam or adl). "
            f"Received: --output={OUTPUT.value}"
        )
    from wsol_tf.backbones.conversion import convert

    path = convert(
        read_checkpoint(checkpoint),
        architecture,
        OUTPUT.value,
        method=METHOD.value,
        num_classes=NUM_CLASSES.value,
        image_size=IMAGE_SIZE.value,
        source=os.path.basename(checkpoint),
    )
    print(f"Wrote {path}")


def run():
    """Console-script entry point (`wsol-convert-weights`)."""
    run_tool(main)
