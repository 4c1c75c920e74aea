"""Triplet margin loss (ICL's contrastive attention loss, main paper Eq. 3)."""

import keras
from keras import ops

from wsol_tf import defaults
from wsol_tf.losses._reduce import masked_mean
from wsol_tf.serialization import register


def l2_normalize(x, axis=-1, epsilon=1e-12):
    """`x / max(||x||_2, epsilon)`, as PyTorch's `F.normalize`."""
    x = ops.cast(x, "float32")
    norm = ops.sqrt(ops.sum(ops.square(x), axis=axis, keepdims=True))
    return x / ops.maximum(norm, epsilon)


def pairwise_distance(x1, x2, epsilon=1e-6):
    """PyTorch's `pairwise_distance` (p=2): `||x1 - x2 + epsilon||_2`."""
    diff = ops.cast(x1, "float32") - ops.cast(x2, "float32") + epsilon
    return ops.sqrt(ops.sum(ops.square(diff), axis=-1))


def triplet_margin(
    anchor,
    positive,
    negative,
    margin=defaults.MARGIN,
    normalize=defaults.NORMALIZE_EMBEDDINGS,
):
    """Per-sample `max(0, d(a, p) - d(a, n) + margin)` as float32 `[B]`."""
    if normalize:
        anchor = l2_normalize(anchor)
        positive = l2_normalize(positive)
        negative = l2_normalize(negative)
    d_pos = pairwise_distance(anchor, positive)
    d_neg = pairwise_distance(anchor, negative)
    return ops.relu(d_pos - d_neg + margin)


def triplet_loss(
    anchor,
    positive,
    negative,
    margin=defaults.MARGIN,
    normalize=defaults.NORMALIZE_EMBEDDINGS,
    valid=None,
):
    """Triplet margin loss, mean over the valid samples, in float32.

    Same as PyTorch's `nn.TripletMarginLoss(margin, p=2, eps=1e-6,
    swap=False, reduction="mean")` (the INFERRED form of ICL's L_ca), with
    optional L2 normalisation of the three vectors first. ICL's roles:
    anchor `z_dfg`, positive `z_fg`, negative `z_bg`.

    Args:
        anchor: float tensor `[B, D]`.
        positive: float tensor `[B, D]`.
        negative: float tensor `[B, D]`.
        margin: float >= 0.
        normalize: bool, L2-normalise the vectors first.
        valid: optional float tensor `[B]`; samples with 0 are skipped
            (the loss is 0.0 if none is valid).

    Returns:
        float32 scalar.
    """
    values = triplet_margin(anchor, positive, negative, margin, normalize)
    return masked_mean(values, valid)


@register
class TripletLoss(keras.losses.Loss):
    """Triplet margin loss as a `keras.losses.Loss`.

    Args:
        margin: float >= 0.
        normalize: bool, L2-normalise the embeddings first.
        reduction: Keras loss reduction.
        name: loss name.

    Call arguments:
        y_true: ignored (the triplet is self-supervised); pass `None` or
            anything with a batch dimension.
        y_pred: float tensor `[B, 3, D]`: anchor, positive, negative.

    Returns:
        The reduced loss (per-sample `[B]` with `reduction=None`).

    Example:
    >>> loss = TripletLoss(margin=1.0)
    >>> value = loss(None, keras.ops.stack([z_dfg, z_fg, z_bg], axis=1))

    Reference:
    - [Ki et al., In-sample Contrastive Learning and Consistent Attention
        for WSOL, ACCV 2020](https://arxiv.org/abs/2009.12063)
    """

    def __init__(
        self,
        margin=defaults.MARGIN,
        normalize=defaults.NORMALIZE_EMBEDDINGS,
        reduction="sum_over_batch_size",
        name="triplet_loss",
        **kwargs,
    ):
        super().__init__(name=name, reduction=reduction, **kwargs)
        defaults.check_range("margin", margin, **defaults.MARGIN_RANGE)
        self.margin = margin
        self.normalize = normalize

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        return triplet_margin(
            y_pred[:, 0],
            y_pred[:, 1],
            y_pred[:, 2],
            self.margin,
            self.normalize,
        )

    def get_config(self):
        config = super().get_config()
        config.update({"margin": self.margin, "normalize": self.normalize})
        return config
