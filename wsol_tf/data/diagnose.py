"""Names the image behind a decode failure inside a tf.data pipeline."""

import contextlib

import tensorflow as tf

from wsol_tf.data.metadata import validate_dataset

_DECODE_MARKERS = ("decode", "jpeg", "png", "gif", "bmp", "image")


@contextlib.contextmanager
def name_undecodable_images(data_config, splits):
    """Turns TensorFlow's anonymous decode errors into errors naming files.

    A corrupt image is only met while a `tf.data` pipeline runs, and
    TensorFlow's message ("jpeg::Uncompress failed") does not say which
    file it was. On such an error this re-checks the given splits with
    `validate_dataset(check_images=True)` (only on the failure path) and
    raises a `ValueError` listing every undecodable or missing image as
    `file:line: message`.

    Args:
        data_config: a resolved `DataConfig` (data_root and metadata_root
            set).
        splits: the split names the guarded code reads.
    """
    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        text = str(error).lower()
        if not any(marker in text for marker in _DECODE_MARKERS):
            raise
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
                if "corrupt" in p or "not found" in p or "unreadable" in p
            ]
        if not problems:
            raise
        shown = "\n  ".join(problems[:20])
        more = len(problems) - 20
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise ValueError(
            "An image could not be decoded while reading the dataset "
            f"(TensorFlow: {str(error).splitlines()[0][:200]}). "
            f"Undecodable images:\n  {shown}{tail}\n"
            "Fix or remove them (tools/check_dataset.py lists every "
            "problem)."
        ) from error
