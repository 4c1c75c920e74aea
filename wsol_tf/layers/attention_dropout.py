"""Attention-based dropout: ADL and ICL's dropped-foreground variant."""

import keras
from keras import ops

from wsol_tf.config import ModelConfig
from wsol_tf.serialization import register
from wsol_tf.settings import check_setting


def channel_mean_attention(features):
    """ADL's self-attention map: `mean_c(features)` as float32 `[B,H,W,1]`."""
    return ops.mean(ops.cast(features, "float32"), axis=-1, keepdims=True)


def attention_masks(
    attention, drop_threshold, bg_threshold=0.0, mask_mode="hard"
):
    """Builds ADL's and ICL's masks from an attention map.

    All thresholds are relative to the per-sample maximum `a_max` of the
    map, literally as in ADL (no ReLU or min-max first; for a sample whose
    maximum is negative, `gamma * a_max > a_max` and the masks degenerate,
    exactly as ADL's would). The masks are (spec 1.2, 1.4):

    - `drop = 1[A < drop_threshold * a_max]` (ADL's drop mask, strict);
    - `fg = 1[A >= bg_threshold * a_max]`, `bg = 1 - fg`;
    - `dfg = fg * drop` (dropped foreground: background and the most
      discriminative part removed).

    With `mask_mode="soft"`, `fg = sigmoid(A)`, `bg = 1 - sigmoid(A)` and
    `dfg = sigmoid(A) * drop` (the pooling masks then carry gradients to
    `A`); `drop` and `hard_dfg` stay hard. `importance = sigmoid(A)`.

    Args:
        attention: float tensor `[B, H, W, 1]`.
        drop_threshold: float, gamma_d.
        bg_threshold: float, gamma_bg.
        mask_mode: `"hard"` or `"soft"`.

    Returns:
        dict of float32 `[B, H, W, 1]` tensors with keys `"importance"`,
        `"drop"`, `"fg"`, `"bg"`, `"dfg"` and `"hard_dfg"`.
    """
    attention = ops.cast(attention, "float32")
    a_max = ops.max(attention, axis=(1, 2, 3), keepdims=True)
    importance = ops.sigmoid(attention)
    drop = ops.cast(ops.less(attention, drop_threshold * a_max), "float32")
    hard_fg = ops.cast(
        ops.greater_equal(attention, bg_threshold * a_max), "float32"
    )
    hard_dfg = hard_fg * drop
    if mask_mode == "soft":
        fg = importance
    else:
        fg = hard_fg
    return {
        "importance": importance,
        "drop": drop,
        "fg": fg,
        "bg": 1.0 - fg,
        "dfg": fg * drop,
        "hard_dfg": hard_dfg,
    }


@register
class AttentionDropout(keras.layers.Layer):
    """Attention-based dropout (ADL) with ICL's dropped-foreground option.

    In training, one Bernoulli draw `r = floor(U[0, 1) + drop_rate)` per
    call (shared by the whole batch, as ADL) selects either the drop mask
    (`r = 1`) or the importance map `sigmoid(A)` (`r = 0`):
    `out = x * (r * M + (1 - r) * sigmoid(A))`. `A` is the channel mean of
    `x`, or the `attention` map passed in (ICL: the non-local block's).
    `M` is ADL's `1[A < drop_threshold * max(A)]` (`forward_mask="drop"`)
    or ICL's dropped foreground `1[A >= bg_threshold * max(A)] * M_drop`
    (`forward_mask="dfg"`). The masks are not detached: gradients flow
    through `sigmoid(A)`. At inference the layer is the identity. ADL has
    no weights.

    Args:
        drop_rate: float in [0, 1]. Probability of the drop branch.
        drop_threshold: float in (0, 1]. gamma_d, relative to the
            per-sample maximum of `A`.
        bg_threshold: float in [0, 1). gamma_bg (used by `"dfg"` and by
            the returned fg/bg masks).
        forward_mask: `"drop"` (ADL) or `"dfg"` (ICL background drop).
        mask_mode: `"hard"` or `"soft"`, for the returned pooling masks
            (see `attention_masks`); the forward mask is always hard.
        return_masks: bool. If True, `call` returns `(outputs, masks)`
            where `masks` is the dict of `attention_masks` plus
            `"attention"`; these are computed in inference mode too.
        seed: int or None, for the `SeedGenerator`.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `[B, H, W, C]`.
        attention: optional float tensor `[B, H, W, 1]`; default
            `mean_c(inputs)`.
        training: bool; the masking is applied only when True.

    Returns:
        Tensor like `inputs`, or `(outputs, masks)` with `return_masks`.

    Example:
    >>> adl = AttentionDropout(drop_rate=0.75, drop_threshold=0.8)
    >>> y = adl(keras.random.uniform((2, 7, 7, 8)), training=True)

    Reference:
    - [Choe and Shim, Attention-based Dropout Layer for Weakly Supervised
        Object Localization, CVPR 2019](https://arxiv.org/abs/1908.10028)
    - [Ki et al., In-sample Contrastive Learning and Consistent Attention
        for WSOL, ACCV 2020](https://arxiv.org/abs/2009.12063)
    """

    def __init__(
        self,
        drop_rate=0.75,
        drop_threshold=0.8,
        bg_threshold=0.0,
        forward_mask="drop",
        mask_mode="hard",
        return_masks=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (
            ("drop_rate", drop_rate),
            ("drop_threshold", drop_threshold),
            ("bg_threshold", bg_threshold),
            ("forward_mask", forward_mask),
            ("mask_mode", mask_mode),
        ):
            check_setting(ModelConfig, name, value)
        self.drop_rate = drop_rate
        self.drop_threshold = drop_threshold
        self.bg_threshold = bg_threshold
        self.forward_mask = forward_mask
        self.mask_mode = mask_mode
        self.return_masks = return_masks
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, attention=None, training=None):
        if attention is None:
            attention = channel_mean_attention(inputs)
        attention = ops.cast(attention, "float32")
        masks = attention_masks(
            attention, self.drop_threshold, self.bg_threshold, self.mask_mode
        )
        outputs = inputs
        if training:
            draw = keras.random.uniform((), seed=self.seed_generator)
            r = ops.floor(draw + self.drop_rate)
            if self.forward_mask == "dfg":
                forward = masks["hard_dfg"]
            else:
                forward = masks["drop"]
            mask = r * forward + (1.0 - r) * masks["importance"]
            outputs = inputs * ops.cast(mask, inputs.dtype)
        if self.return_masks:
            masks["attention"] = attention
            return outputs, masks
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "drop_rate": self.drop_rate,
                "drop_threshold": self.drop_threshold,
                "bg_threshold": self.bg_threshold,
                "forward_mask": self.forward_mask,
                "mask_mode": self.mask_mode,
                "return_masks": self.return_masks,
                "seed": self.seed,
            }
        )
        return config
