"""NT-Xent contrastive attention loss (ICL supplementary Eq. 1)."""

import keras
from keras import ops

from wsol_tf import defaults
from wsol_tf.losses._reduce import masked_mean
from wsol_tf.serialization import register


def cosine_similarity(x1, x2, epsilon=1e-8):
    """Row-wise cosine similarity in float32, norms clamped at `epsilon`."""
    x1 = ops.cast(x1, "float32")
    x2 = ops.cast(x2, "float32")
    n1 = ops.maximum(ops.sqrt(ops.sum(ops.square(x1), axis=-1)), epsilon)
    n2 = ops.maximum(ops.sqrt(ops.sum(ops.square(x2), axis=-1)), epsilon)
    return ops.sum(x1 * x2, axis=-1) / (n1 * n2)


def nt_xent_logits(
    anchor, positive, negative, temperature=defaults.TEMPERATURE
):
    """Logits `[B, 2] = [sim(a, p), sim(a, n)] / temperature`, float32."""
    s_pos = cosine_similarity(anchor, positive)
    s_neg = cosine_similarity(anchor, negative)
    return ops.stack([s_pos, s_neg], axis=-1) / temperature


def nt_xent(
    anchor,
    positive,
    negative,
    temperature=defaults.TEMPERATURE,
    valid=None,
    return_logits=False,
):
    """In-sample NT-Xent: one positive and one negative per anchor.

    `-log(exp(s_p / t) / (exp(s_p / t) + exp(s_n / t)))` with cosine
    similarities `s_p = sim(a, p)`, `s_n = sim(a, n)`, computed in the
    stable form `softplus((s_n - s_p) / t)`, mean over the valid samples
    (batch reduction INFERRED). ICL's roles: anchor `z_dfg`, positive
    `z_fg`, negative `z_bg`; t = 0.07 (supplement).

    Args:
        anchor: float tensor `[B, D]`.
        positive: float tensor `[B, D]`.
        negative: float tensor `[B, D]`.
        temperature: float > 0.
        valid: optional float tensor `[B]`, 0 marks a skipped sample.
        return_logits: bool, also return the diagnostics.

    Returns:
        float32 scalar, or `(loss, logits [B, 2], labels [B])` with
        `return_logits` (labels are all 0: the positive is column 0, so the
        loss equals the softmax cross-entropy of `logits` against `labels`).
    """
    logits = nt_xent_logits(anchor, positive, negative, temperature)
    values = ops.softplus(logits[:, 1] - logits[:, 0])
    loss = masked_mean(values, valid)
    if return_logits:
        labels = ops.zeros_like(values, dtype="int32")
        return loss, logits, labels
    return loss


@register
class NTXentLoss(keras.losses.Loss):
    """In-sample NT-Xent loss as a `keras.losses.Loss`.

    Args:
        temperature: float > 0 (ICL: 0.07).
        reduction: Keras loss reduction.
        name: loss name.

    Call arguments:
        y_true: ignored.
        y_pred: float tensor `[B, 3, D]`: anchor, positive, negative.

    Returns:
        The reduced loss (per-sample `[B]` with `reduction=None`).

    Example:
    >>> loss = NTXentLoss(temperature=0.07)
    >>> value = loss(None, keras.ops.stack([z_dfg, z_fg, z_bg], axis=1))

    Reference:
    - [Ki et al., In-sample Contrastive Learning and Consistent Attention
        for WSOL, ACCV 2020, supplementary Eq. 1](
        https://arxiv.org/abs/2009.12063)
    - [Chen et al., A Simple Framework for Contrastive Learning of Visual
        Representations, ICML 2020](https://arxiv.org/abs/2002.05709)
    """

    def __init__(
        self,
        temperature=defaults.TEMPERATURE,
        reduction="sum_over_batch_size",
        name="nt_xent_loss",
        **kwargs,
    ):
        super().__init__(name=name, reduction=reduction, **kwargs)
        defaults.check_range(
            "temperature", temperature, **defaults.TEMPERATURE_RANGE
        )
        self.temperature = temperature

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        logits = nt_xent_logits(
            y_pred[:, 0], y_pred[:, 1], y_pred[:, 2], self.temperature
        )
        return ops.softplus(logits[:, 1] - logits[:, 0])

    def get_config(self):
        config = super().get_config()
        config.update({"temperature": self.temperature})
        return config
