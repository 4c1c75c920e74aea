"""resolve_dataset: fill in where a DataConfig's data lives."""

import dataclasses
import os

from wsol_tf.data import synthetic
from wsol_tf.data.metadata import resolve_num_classes

# Dataset names whose wsolevaluation metadata ships with the package, in
# wsol_tf/metadata/<folder> (ILSVRC without its train split: 1.28 M lines
# that tools/make_metadata.py writes from the images).
SHIPPED_METADATA = {
    "cub": "CUB",
    "ilsvrc": "ILSVRC",
    "openimages": "OpenImages",
}
# Dataset names of the embedded synthetic sets -> generator style.
SYNTHETIC_DATASETS = {"synthetic": "birds", "synthetic_heads": "heads"}
# Generator settings of one style only: DataConfig field -> keyword.
_STYLE_FIELDS = {
    "birds": {
        "synthetic_body_rate": "body_rate",
        "synthetic_context_rate": "context_rate",
        "synthetic_class_offset": "class_offset",
        "synthetic_evidence_kinds": "evidence_kinds",
        "synthetic_evidence_layout": "evidence_layout",
    },
    "heads": {"synthetic_distractor_heads": "distractor_heads"},
}


def default_cache_dir():
    """`$WSOL_TF_CACHE`, else `~/.cache/wsol_tf`."""
    return os.environ.get("WSOL_TF_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "wsol_tf"
    )


def shipped_metadata_root(dataset_name):
    """The package's copy of wsolevaluation's metadata for `dataset_name`
    ("cub", "ilsvrc" or "openimages"), or None for any other name."""
    folder = SHIPPED_METADATA.get(dataset_name)
    if folder is None:
        return None
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(package, "metadata", folder)


def _check_shipped_splits(cfg, metadata_root):
    """One line naming tools/make_metadata.py when the shipped metadata
    lacks one of the config's splits (ILSVRC train)."""
    for split in (cfg.train_split, cfg.val_split, cfg.test_split):
        if not os.path.isdir(os.path.join(metadata_root, split)):
            folder = SHIPPED_METADATA[cfg.dataset_name]
            raise ValueError(
                f"Expected --metadata_root for split {split!r} of dataset "
                f"{cfg.dataset_name!r}: the shipped metadata has "
                f"{sorted(os.listdir(metadata_root))} only. Write it with "
                f"`python tools/make_metadata.py --image_dir="
                f"{os.path.join(cfg.data_root or '<data_root>', split)} "
                f"--output=metadata/{folder}/{split} "
                f"--copy_shipped={cfg.dataset_name}` and pass "
                f"--metadata_root=metadata/{folder}. Received: "
                f"metadata_root=''"
            )


def resolve_dataset(data_config):
    """Returns `data_config` with data_root, metadata_root and num_classes set.

    - dataset_name "synthetic" (the "birds" set: graded class evidence)
      or "synthetic_heads" (the first set: only the head is evidence)
      with an empty data_root: the embedded synthetic dataset is
      generated once (atomically) into `cache_dir` (default
      `default_cache_dir()`), in a directory named after the style, the
      generator version and the `synthetic_*` settings, and reused
      afterwards. `synthetic_distractor_heads` applies to
      "synthetic_heads" only and must keep its default for "synthetic";
      `synthetic_body_rate` / `synthetic_context_rate` (if the config has
      them; else the generator's defaults) apply to "synthetic" only.
    - Either synthetic name: metadata_root defaults to
      `<data_root>/metadata/SYNTHETIC` (boxes) and mask_metadata_root to
      `<data_root>/metadata/SYNTHETIC_PXAP` (masks for PxAP).
    - "cub", "ilsvrc" and "openimages" with an empty metadata_root use
      the wsolevaluation metadata shipped in the package
      (`shipped_metadata_root`); ILSVRC's train split is not shipped
      (tools/make_metadata.py writes it from the images), so its runs
      name a metadata_root holding it.
    - Any other dataset needs data_root and metadata_root (e.g.
      `dataset/MYDATA` and `metadata/MYDATA`).
    - num_classes None: max label + 1 of the train split's
      class_labels.txt. The class labels of the train, val and test
      splits are checked by `resolve_num_classes`, the rule
      tools/check_dataset.py applies: the train labels cover 0..K-1
      (unless num_classes is given) and every label is below K.

    Raises:
        ValueError: when a path is empty or not a directory;
            `MetadataError` (a ValueError) naming the file and line of a
            label out of range or a gap in the train labels.

    Example:

    >>> cfg = resolve_dataset(DataConfig())  # synthetic, generated once
    >>> cfg.num_classes
    4
    """
    cfg = data_config
    changes = {}
    data_root = cfg.data_root
    is_synthetic = cfg.dataset_name in SYNTHETIC_DATASETS
    if is_synthetic and not data_root:
        data_root = synthetic.ensure_synthetic_dataset(
            cfg.cache_dir or default_cache_dir(), **synthetic_settings(cfg)
        )
        changes["data_root"] = data_root
    metadata_root = cfg.metadata_root
    if is_synthetic and data_root:
        if not metadata_root:
            metadata_root = os.path.join(data_root, synthetic.BOXES_DIR)
            changes["metadata_root"] = metadata_root
        masks = os.path.join(data_root, synthetic.MASKS_DIR)
        if not cfg.mask_metadata_root and os.path.isdir(masks):
            changes["mask_metadata_root"] = masks
    if not metadata_root and cfg.dataset_name in SHIPPED_METADATA:
        metadata_root = shipped_metadata_root(cfg.dataset_name)
        _check_shipped_splits(cfg, metadata_root)
        changes["metadata_root"] = metadata_root
    for name, value in (
        ("data_root", data_root),
        ("metadata_root", metadata_root),
    ):
        if not value or not os.path.isdir(value):
            raise ValueError(
                f"Expected {name} to be an existing directory (dataset "
                f"{cfg.dataset_name!r}; only {sorted(SYNTHETIC_DATASETS)} "
                f"can leave it empty). Received: {name}={value!r}"
            )
    splits = (cfg.train_split, cfg.val_split, cfg.test_split)
    num_classes = resolve_num_classes(
        metadata_root, splits, cfg.train_split, cfg.num_classes
    )
    if cfg.num_classes is None:
        changes["num_classes"] = num_classes
    return cfg.replace(**changes)


def with_synthetic_test_split(data_config, test_per_class):
    """The same synthetic set with `test_per_class` test images per class,
    resolved (generated into the config's cache once).

    The generator renders each image from (seed, split, index), so the
    train and val splits are unchanged: a run trained on the set can be
    scored on a larger draw of its test split without retraining.

    Raises:
        ValueError: when `data_config` is not a synthetic set.
    """
    if data_config.dataset_name not in SYNTHETIC_DATASETS:
        raise ValueError(
            f"Expected a synthetic set ({sorted(SYNTHETIC_DATASETS)}) to draw "
            f"a new test split of. Received: "
            f"dataset_name={data_config.dataset_name!r}"
        )
    return resolve_dataset(
        data_config.replace(
            synthetic_test_per_class=int(test_per_class),
            data_root="",
            metadata_root="",
            mask_metadata_root="",
        )
    )


def synthetic_settings(data_config):
    """Generator keyword arguments of a synthetic `DataConfig`.

    Raises:
        ValueError: when a setting of the other style was changed from its
            default (e.g. synthetic_distractor_heads with "synthetic").
    """
    cfg = data_config
    style = SYNTHETIC_DATASETS[cfg.dataset_name]
    settings = dict(
        style=style,
        num_classes=cfg.synthetic_num_classes,
        train_per_class=cfg.synthetic_train_per_class,
        val_per_class=cfg.synthetic_val_per_class,
        test_per_class=cfg.synthetic_test_per_class,
        image_size=cfg.synthetic_image_size,
        seed=cfg.synthetic_seed,
        head_scale=cfg.synthetic_head_scale,
    )
    for other, fields in _STYLE_FIELDS.items():
        for field, keyword in fields.items():
            # Fields a DataConfig may not have yet read as "default".
            value = getattr(cfg, field, None)
            if other == style:
                settings[keyword] = value
            elif value is not None and value != _field_default(cfg, field):
                names = [k for k, v in SYNTHETIC_DATASETS.items() if v == other]
                raise ValueError(
                    f"Setting {field} applies to dataset_name {names[0]!r} "
                    f"only; dataset_name is {cfg.dataset_name!r}. "
                    f"Received: {field}={value}"
                )
    return settings


def _field_default(config, field):
    """The dataclass default of one of `config`'s fields."""
    fields = {f.name: f.default for f in dataclasses.fields(config)}
    return fields[field]
