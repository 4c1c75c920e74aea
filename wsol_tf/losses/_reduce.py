"""Masked batch mean shared by the loss functions."""

from keras import ops


def masked_mean(values, valid=None):
    """Mean of float32 `values [B]` over samples with `valid [B]` == 1.

    Returns 0.0 when no sample is valid (no NaN, zero gradient).
    """
    values = ops.cast(values, "float32")
    if valid is None:
        return ops.mean(values)
    valid = ops.cast(valid, "float32")
    # `where` (not a product) so that a NaN/inf of a skipped sample is dropped.
    total = ops.sum(ops.where(valid > 0, values * valid, 0.0))
    return total / ops.maximum(ops.sum(valid), 1.0)
