"""The wsol_tf weights file: per-layer arrays plus what they need.

An HDF5 file (written with h5py, any name, e.g. `vgg16_cam.weights.h5`)
holding, for each layer `name`, the datasets `layers/<name>/<i>` in the
order of `layer.get_weights()`, and root attributes:

- `wsol_tf_format`: `FORMAT_VERSION`;
- `architecture`: `"vgg16"`, `"resnet50"` or `"inceptionv3"`;
- `layout`: `"keras"` or `"torchvision"`, the backbone graph the weights
  belong to (`build_backbone(..., layout=...)`);
- `normalization`: the input normalisation the weights were trained with
  (`"caffe"`, `"tf"` or `"imagenet"`, see `wsol_tf.data.image_ops`);
- `source`: free text (e.g. the converted checkpoint's name).

`tools/convert_weights.py` writes it from PyTorch checkpoints;
`load_backbone_weights` reads it.
"""

import json
import os

import h5py
import numpy as np

FORMAT_VERSION = 1
_FORMAT_KEY = "wsol_tf_format"
METADATA_KEYS = ("architecture", "layout", "normalization", "source")


def is_weights_file(path):
    """True if `path` is an HDF5 file in the wsol_tf weights format."""
    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        return False
    try:
        with h5py.File(path, "r") as f:
            return _FORMAT_KEY in f.attrs
    except OSError:  # not HDF5
        return False


def save_weights_file(path, layer_weights, **metadata):
    """Writes a wsol_tf weights file.

    Args:
        path: output path.
        layer_weights: dict `{layer name: list of arrays}`, each list in
            the order of that Keras layer's `get_weights()`.
        **metadata: `architecture`, `layout`, `normalization` (required)
            and `source` (optional) root attributes.
    """
    missing = [k for k in METADATA_KEYS[:3] if not metadata.get(k)]
    if missing:
        raise ValueError(
            f"A weights file needs {METADATA_KEYS[:3]}. Received: "
            f"missing={missing}"
        )
    unknown = set(metadata) - set(METADATA_KEYS)
    if unknown:
        raise ValueError(
            f"Unknown weights-file metadata. Expected keys in "
            f"{METADATA_KEYS}. Received: {sorted(unknown)}"
        )
    with h5py.File(path, "w") as f:
        f.attrs[_FORMAT_KEY] = FORMAT_VERSION
        for key, value in metadata.items():
            f.attrs[key] = str(value)
        f.attrs["layer_names"] = json.dumps(list(layer_weights))
        group = f.create_group("layers")
        for name, values in layer_weights.items():
            layer = group.create_group(name)
            for i, value in enumerate(values):
                layer.create_dataset(
                    str(i), data=np.asarray(value, dtype="float32")
                )


def read_metadata(path):
    """The root attributes of a wsol_tf weights file, as a dict of str."""
    with h5py.File(path, "r") as f:
        version = int(f.attrs[_FORMAT_KEY])
        if version > FORMAT_VERSION:
            raise ValueError(
                f"{path} is a wsol_tf weights file of format {version}; "
                f"this version reads format <= {FORMAT_VERSION}."
            )
        return {k: str(f.attrs[k]) for k in METADATA_KEYS if k in f.attrs}


def read_weights_file(path):
    """Returns `(metadata, {layer name: list of float32 arrays})`."""
    metadata = read_metadata(path)
    with h5py.File(path, "r") as f:
        names = json.loads(f.attrs["layer_names"])
        layers = {}
        for name in names:
            group = f["layers"][name]
            layers[name] = [group[str(i)][()] for i in range(len(group))]
    return metadata, layers
