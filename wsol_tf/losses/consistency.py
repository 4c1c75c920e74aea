"""Foreground consistency loss between early and last attention maps."""

import keras
from keras import ops

from wsol_tf.config import LossConfig
from wsol_tf.serialization import register
from wsol_tf.settings import check_setting


def _check_arguments(distance, mode):
    """The `LossConfig` declarations of the two choices, one rule each."""
    check_setting(LossConfig, "consistency_distance", distance, "distance")
    check_setting(LossConfig, "consistency_mode", mode, "mode")


def normalize_attention(attention, epsilon=1e-12):
    """`relu(A) / max_hw(relu(A))` per sample, float32 (0 if the max is 0)."""
    attention = ops.relu(ops.cast(attention, "float32"))
    peak = ops.max(attention, axis=(1, 2, 3), keepdims=True)
    return attention / ops.maximum(peak, epsilon)


def _per_sample(early, reference, distance, mode, bg_threshold):
    """Per-sample consistency `[B]` of one early map vs the reference."""
    reference = ops.stop_gradient(ops.cast(reference, "float32"))
    early = normalize_attention(early)
    size = reference.shape[1:3]
    if tuple(early.shape[1:3]) != tuple(size):
        early = ops.image.resize(early, size, interpolation="bilinear")
    if mode == "background":
        # Hard background of the reference, as the block's M_bg.
        peak = ops.max(reference, axis=(1, 2, 3), keepdims=True)
        background = ops.cast(reference < bg_threshold * peak, "float32")
        values = early * background
    else:
        diff = early - normalize_attention(reference)
        values = ops.abs(diff) if distance == "l1" else ops.square(diff)
    return ops.mean(values, axis=(1, 2, 3))


def consistency_loss(
    early_maps,
    reference_map,
    distance="l1",
    mode="full",
    bg_threshold=0.2,
):
    """Foreground consistency loss L_fc (INFERRED form, spec 2.5).

    Each map is passed through ReLU and divided by its per-sample maximum;
    the early maps are resized bilinearly (half-pixel centres, no
    antialias, = PyTorch `align_corners=False`) to the reference
    resolution; the reference is a stop-gradient target.

    - `mode="full"`: `mean |a_l - sg(r)|` (`"l1"`) or `mean (a_l - sg(r))^2`
      (`"l2"`) over batch and space.
    - `mode="background"`: `mean(a_l * sg(M_bg))` with the reference's hard
      background `M_bg = 1[R < bg_threshold * max(R)]` (raw reference), so
      early attention is only penalised where the last block sees
      background (`distance` is unused).

    The result is averaged over the early maps. Everything is float32.

    Args:
        early_maps: list of float tensors `[B, h_l, w_l, 1]`.
        reference_map: float tensor `[B, H, W, 1]` (the last block's map).
        distance: `"l1"` or `"l2"`.
        mode: `"full"` or `"background"`.
        bg_threshold: float, gamma_bg for `"background"`.

    Returns:
        float32 scalar.
    """
    _check_arguments(distance, mode)
    if not early_maps:
        raise ValueError(
            "`early_maps` must hold at least one map. "
            f"Received: early_maps={early_maps}"
        )
    terms = [
        ops.mean(_per_sample(m, reference_map, distance, mode, bg_threshold))
        for m in early_maps
    ]
    return ops.sum(ops.stack(terms)) / float(len(terms))


@register
class ConsistencyLoss(keras.losses.Loss):
    """Foreground consistency loss of one early map as a `keras.losses.Loss`.

    Args:
        distance: `"l1"` or `"l2"`.
        mode: `"full"` or `"background"`.
        bg_threshold: float, gamma_bg for `"background"`.
        reduction: Keras loss reduction.
        name: loss name.

    Call arguments:
        y_true: float tensor `[B, H, W, 1]`, the reference (last) map
            (stop-gradient is applied).
        y_pred: float tensor `[B, h, w, 1]`, an early attention map.

    Returns:
        The reduced loss (per-sample `[B]` with `reduction=None`).

    Example:
    >>> loss = ConsistencyLoss(distance="l1")
    >>> value = loss(attention_last, attention_early)

    Reference:
    - [Ki et al., In-sample Contrastive Learning and Consistent Attention
        for WSOL, ACCV 2020](https://arxiv.org/abs/2009.12063)
    """

    def __init__(
        self,
        distance="l1",
        mode="full",
        bg_threshold=0.2,
        reduction="sum_over_batch_size",
        name="consistency_loss",
        **kwargs,
    ):
        super().__init__(name=name, reduction=reduction, **kwargs)
        _check_arguments(distance, mode)
        self.distance = distance
        self.mode = mode
        self.bg_threshold = bg_threshold

    def call(self, y_true, y_pred):
        return _per_sample(
            y_pred, y_true, self.distance, self.mode, self.bg_threshold
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "distance": self.distance,
                "mode": self.mode,
                "bg_threshold": self.bg_threshold,
            }
        )
        return config
