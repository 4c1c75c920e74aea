"""Naming the image behind a decode failure, and the pre-flight data scan.

A corrupt image is only met while a `tf.data` pipeline runs, and
TensorFlow's message ("jpeg::Uncompress failed") does not say which file
it was. `name_undecodable_images` re-checks the splits on such an error;
`scan_dataset` checks every split before training starts (metadata,
missing files and, with `verify_images`, one decode of every image), so a
long run does not stop at hour three.
"""

import contextlib
import os

import tensorflow as tf

from wsol_tf.data.metadata import IMAGE_IDS
from wsol_tf.data.metadata import MetadataError
from wsol_tf.data.metadata import read_metadata
from wsol_tf.data.metadata import size_mismatches
from wsol_tf.data.metadata import validate_dataset
from wsol_tf.errors import WSOLError

_DECODE_MARKERS = ("decode", "jpeg", "png", "gif", "bmp", "image")
# The problems of `validate_dataset` that stop the pipeline (not, e.g., a
# size that disagrees with image_sizes.txt).
_UNREADABLE = ("corrupt", "not found", "unreadable", "cannot read")
_MAX_SHOWN = 20


def _listing(problems):
    shown = "\n  ".join(problems[:_MAX_SHOWN])
    more = len(problems) - _MAX_SHOWN
    return shown + (f"\n  ... and {more} more" if more > 0 else "")


def undecodable_images(data_config, splits):
    """Every missing, unreadable or undecodable image / mask of `splits`.

    Decodes each file once, as the pipeline does (`validate_dataset` with
    `check_images=True`).

    Returns:
        A list of `"file:line: message"` strings naming the image path.
    """
    problems = []
    for split in dict.fromkeys(splits):
        problems += [
            p
            for p in validate_dataset(
                data_config.metadata_root,
                split,
                data_config.data_root,
                check_images=True,
                num_classes=data_config.num_classes,
            )
            if any(marker in p for marker in _UNREADABLE)
        ]
    return problems


def is_decode_error(error):
    """True for TensorFlow's (anonymous) image decode errors."""
    text = str(error).lower()
    return isinstance(error, tf.errors.InvalidArgumentError) and any(
        marker in text for marker in _DECODE_MARKERS
    )


@contextlib.contextmanager
def name_undecodable_images(data_config, splits):
    """Turns TensorFlow's anonymous decode errors into errors naming files.

    On such an error this re-checks the given splits with
    `undecodable_images` (only on the failure path) and raises a
    `WSOLError` (a `ValueError`) listing every undecodable or missing image
    as `file:line: message`.

    Args:
        data_config: a resolved `DataConfig` (data_root and metadata_root
            set).
        splits: the split names the guarded code reads.
    """
    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        if not is_decode_error(error):
            raise
        problems = undecodable_images(data_config, splits)
        if not problems:
            raise
        raise WSOLError(
            f"An image could not be decoded while reading the dataset: "
            f"{problems[0]} (TensorFlow: {str(error).splitlines()[0][:200]})."
            f" Undecodable images:\n  {_listing(problems)}\n"
            "Fix or remove them (tools/check_dataset.py lists every "
            "problem)."
        ) from error


def _evaluated(cfg, splits):
    """The splits among `splits` whose boxes are scaled by image_sizes.txt
    to be scored (val and test)."""
    return {cfg.val_split, cfg.test_split} & set(splits)


def _raise_size_mismatches(problems):
    if problems:
        raise WSOLError(
            f"{len(problems)} image size(s) in image_sizes.txt differ from "
            f"the image on disk (its boxes would be scaled wrongly): "
            f"{problems[0]}"
            + (f"\n  {_listing(problems[1:])}" if len(problems) > 1 else "")
        )


def check_image_sizes(data_config, splits):
    """Refuses images whose size differs from `image_sizes.txt`.

    For the splits a run scores (their boxes are scaled by the listed
    sizes); each image's header is read, not decoded (`size_mismatches`).

    Raises:
        WSOLError: naming each mismatch as `image_sizes.txt:line`.
    """
    cfg, problems = data_config, []
    for split in dict.fromkeys(splits):
        meta = read_metadata(
            cfg.metadata_root, split, cfg.data_root, cfg.num_classes
        )
        problems += size_mismatches(meta)
    _raise_size_mismatches(problems)


def scan_dataset(data_config, splits=None, verify_images=None):
    """Pre-flight check of every split a run reads; raises on any problem.

    Reads the metadata of each split (as the pipeline will, with the
    resolved `num_classes`), checks that every image file exists and that
    each val / test image's size (from its header) is the one
    `image_sizes.txt` lists (`check_image_sizes`). With
    `verify_images` (default: `data_config.verify_images`) it also decodes
    every image and mask once, as the pipeline does.

    Args:
        data_config: a resolved `DataConfig`.
        splits: split names (default: train, val and test splits).
        verify_images: bool or None (the config's setting).

    Raises:
        MetadataError: every metadata problem of every split, as
            `file:line: message`.
        WSOLError: every missing or (with `verify_images`) undecodable
            image, as `file:line: message` naming the path.
    """
    cfg = data_config
    if splits is None:
        splits = (cfg.train_split, cfg.val_split, cfg.test_split)
    if verify_images is None:
        verify_images = getattr(cfg, "verify_images", False)
    splits = list(dict.fromkeys(splits))
    metadata_problems, missing, sizes = [], [], []
    evaluated = _evaluated(cfg, splits)
    for split in splits:
        try:
            meta = read_metadata(
                cfg.metadata_root, split, cfg.data_root, cfg.num_classes
            )
        except MetadataError as error:
            metadata_problems += error.problems
            continue
        if split in evaluated:
            sizes += size_mismatches(meta)
        if verify_images:
            continue
        for image_id in meta.image_ids:
            path = meta.path(image_id)
            if not os.path.isfile(path):
                missing.append(
                    f"{meta.where(IMAGE_IDS, image_id)}: image file not "
                    f"found: {path}"
                )
    if metadata_problems:
        raise MetadataError(
            metadata_problems,
            f"metadata_root={cfg.metadata_root!r}, splits={splits}",
        )
    if verify_images:
        missing = undecodable_images(cfg, splits)
    if missing:
        what = "unreadable" if verify_images else "missing"
        raise WSOLError(
            f"{len(missing)} {what} image(s): {missing[0]}"
            + (f"\n  {_listing(missing[1:])}" if len(missing) > 1 else "")
            + f"\nReceived: data_root={cfg.data_root!r}"
        )
    _raise_size_mismatches(sizes)
