"""resolve_dataset: fill in where a DataConfig's data lives."""

import os

from wsol_tf.data import synthetic
from wsol_tf.data.metadata import infer_num_classes


def default_cache_dir():
    """`$WSOL_TF_CACHE`, else `~/.cache/wsol_tf`."""
    return os.environ.get("WSOL_TF_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "wsol_tf"
    )


def resolve_dataset(data_config):
    """Returns `data_config` with data_root, metadata_root and num_classes set.

    - dataset_name "synthetic" with an empty data_root: the embedded
      synthetic dataset is generated once (atomically) into
      `cache_dir` (default `default_cache_dir()`), in a directory named
      after the generator version and the `synthetic_*` settings, and
      reused afterwards.
    - dataset_name "synthetic": metadata_root defaults to
      `<data_root>/metadata/SYNTHETIC` (boxes) and mask_metadata_root to
      `<data_root>/metadata/SYNTHETIC_PXAP` (masks for PxAP).
    - Any other dataset needs data_root and metadata_root (e.g.
      `dataset/CUB` and `metadata/CUB`).
    - num_classes None: max label + 1 of the train split's
      class_labels.txt.

    Raises:
        ValueError: when a path is empty or not a directory, or the train
            labels cannot be read.

    Example:

    >>> cfg = resolve_dataset(DataConfig())  # synthetic, generated once
    >>> cfg.num_classes
    4
    """
    cfg = data_config
    changes = {}
    data_root = cfg.data_root
    if cfg.dataset_name == "synthetic" and not data_root:
        data_root = synthetic.ensure_synthetic_dataset(
            cfg.cache_dir or default_cache_dir(),
            num_classes=cfg.synthetic_num_classes,
            train_per_class=cfg.synthetic_train_per_class,
            val_per_class=cfg.synthetic_val_per_class,
            test_per_class=cfg.synthetic_test_per_class,
            image_size=cfg.synthetic_image_size,
            seed=cfg.synthetic_seed,
            head_scale=cfg.synthetic_head_scale,
            distractor_heads=cfg.synthetic_distractor_heads,
        )
        changes["data_root"] = data_root
    metadata_root = cfg.metadata_root
    if cfg.dataset_name == "synthetic" and data_root:
        if not metadata_root:
            metadata_root = os.path.join(data_root, synthetic.BOXES_DIR)
            changes["metadata_root"] = metadata_root
        masks = os.path.join(data_root, synthetic.MASKS_DIR)
        if not cfg.mask_metadata_root and os.path.isdir(masks):
            changes["mask_metadata_root"] = masks
    for name, value in (
        ("data_root", data_root),
        ("metadata_root", metadata_root),
    ):
        if not value or not os.path.isdir(value):
            raise ValueError(
                f"Expected {name} to be an existing directory (dataset "
                f"{cfg.dataset_name!r}; only 'synthetic' can leave it "
                f"empty). Received: {name}={value!r}"
            )
    if cfg.num_classes is None:
        changes["num_classes"] = infer_num_classes(
            metadata_root, cfg.train_split
        )
    return cfg.replace(**changes)
