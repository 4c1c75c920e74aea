"""ICL's attention block: non-local block + background-dropping ADL."""

import keras

from wsol_tf.config import ModelConfig
from wsol_tf.layers.attention_dropout import AttentionDropout
from wsol_tf.layers.attention_dropout import channel_mean_attention
from wsol_tf.layers.masked_average_pooling import MaskedAveragePooling
from wsol_tf.layers.non_local_block import NonLocalBlock
from wsol_tf.serialization import register
from wsol_tf.settings import check_setting


@register
class ICLAttentionBlock(keras.layers.Layer):
    """ICL block: non-local attention, dropped-foreground masking, pooling.

    1. `z = NonLocalBlock(x)` (or `z = x` with `use_non_local=False`).
    2. Attention map `A = mean_c(z)` (`attention_source="output"`) or
       `mean_c(W(y))`, the non-local term only (`"non_local"`; note that
       `W(y)` is exactly zero at initialisation, so all masks start
       degenerate with this option).
    3. Masks from `A` (see `attention_masks`): `M_fg`, `M_bg`, `M_drop`,
       `M_dfg = M_fg * M_drop`. In training, ADL's stochastic masking is
       applied to `z` with `M_dfg` (`forward_mask="dfg"`) or ADL's
       `M_drop` (`"drop"`, i.e. no background drop). At inference the
       block returns `z` (the non-local block stays in the path).
    4. In-sample masked features, pooled (float32) from `x`
       (`pooled_feature="input"`) or `z` (`"output"`):
       `z_dfg, z_fg, z_bg` and `valid` (1 where all three masks are
       non-empty). These are computed in inference mode too, so the
       losses can be evaluated by `test_step`.

    The equations of ICL's block are not published; this is the spec's
    INFERRED reconstruction (spec 1.3, 1.4, 2.2).

    Args:
        drop_rate: float, probability of the drop branch per call.
        drop_threshold: float, gamma_d.
        bg_threshold: float, gamma_bg.
        use_non_local: bool. False falls back to ADL's `mean_c(x)`.
        non_local_sub_sample: bool, 2x2 max-pool of phi and g.
        inter_channels: int or None, non-local embedding width (None:
            `C // non_local_reduction`).
        non_local_reduction: int >= 1, the non-local block's `reduction`
            (`C' = C / r`; 2 is Wang et al.'s block).
        attention_source: `"output"` or `"non_local"`.
        mask_mode: `"hard"` or `"soft"` pooling masks.
        forward_mask: `"dfg"` or `"drop"`.
        pooled_feature: `"input"` or `"output"`.
        epsilon: float, masked pooling epsilon.
        seed: int or None.
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: float tensor `[B, H, W, C]`.
        training: bool.

    Returns:
        dict with `"features"` (like `inputs`, the tensor passed on),
        `"attention"` (float32 `[B, H, W, 1]`), `"z_dfg"`, `"z_fg"`,
        `"z_bg"` (float32 `[B, C]`) and `"valid"` (float32 `[B]`).

    Example:
    >>> block = ICLAttentionBlock(drop_threshold=0.9, bg_threshold=0.2)
    >>> out = block(keras.random.uniform((2, 14, 14, 64)), training=True)
    >>> out["z_dfg"].shape
    (2, 64)

    Reference:
    - [Ki et al., In-sample Contrastive Learning and Consistent Attention
        for WSOL, ACCV 2020](https://arxiv.org/abs/2009.12063)
    """

    def __init__(
        self,
        drop_rate=0.75,
        drop_threshold=0.8,
        bg_threshold=0.2,
        use_non_local=True,
        non_local_sub_sample=True,
        inter_channels=None,
        non_local_reduction=2,
        attention_source="output",
        mask_mode="hard",
        forward_mask="dfg",
        pooled_feature="input",
        epsilon=1e-6,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_setting(ModelConfig, "attention_source", attention_source)
        check_setting(ModelConfig, "pooled_feature", pooled_feature)
        if attention_source == "non_local" and not use_non_local:
            raise ValueError(
                "`attention_source='non_local'` needs `use_non_local=True`. "
                f"Received: use_non_local={use_non_local}"
            )
        self.drop_rate = drop_rate
        self.drop_threshold = drop_threshold
        self.bg_threshold = bg_threshold
        self.use_non_local = use_non_local
        self.non_local_sub_sample = non_local_sub_sample
        self.inter_channels = inter_channels
        self.non_local_reduction = int(
            check_setting(
                ModelConfig, "non_local_reduction", non_local_reduction
            )
        )
        self.attention_source = attention_source
        self.mask_mode = mask_mode
        self.forward_mask = forward_mask
        self.pooled_feature = pooled_feature
        self.epsilon = epsilon
        self.seed = seed
        # Validates the masking arguments eagerly; holds the SeedGenerator.
        self.dropout = AttentionDropout(
            drop_rate=drop_rate,
            drop_threshold=drop_threshold,
            bg_threshold=bg_threshold,
            forward_mask=forward_mask,
            mask_mode=mask_mode,
            return_masks=True,
            seed=seed,
            dtype=self.dtype_policy,
            name="dropout",
        )

    def build(self, input_shape):
        if self.use_non_local:
            self.non_local = NonLocalBlock(
                inter_channels=self.inter_channels,
                reduction=self.non_local_reduction,
                sub_sample=self.non_local_sub_sample,
                return_non_local=True,
                dtype=self.dtype_policy,
                name="non_local",
            )
            self.non_local.build(input_shape)
        self.pool = MaskedAveragePooling(
            epsilon=self.epsilon, dtype="float32", name="pool"
        )
        self.dropout.build(input_shape)

    def call(self, inputs, training=None):
        if self.use_non_local:
            outputs, non_local = self.non_local(inputs, training=training)
        else:
            outputs, non_local = inputs, None
        if self.attention_source == "non_local":
            attention = channel_mean_attention(non_local)
        else:
            attention = channel_mean_attention(outputs)
        forward, masks = self.dropout(
            outputs, attention=attention, training=training
        )
        pooled_from = inputs if self.pooled_feature == "input" else outputs
        z_dfg, valid_dfg = self.pool(pooled_from, masks["dfg"])
        z_fg, valid_fg = self.pool(pooled_from, masks["fg"])
        z_bg, valid_bg = self.pool(pooled_from, masks["bg"])
        return {
            "features": forward,
            "attention": masks["attention"],
            "z_dfg": z_dfg,
            "z_fg": z_fg,
            "z_bg": z_bg,
            "valid": valid_dfg * valid_fg * valid_bg,
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "drop_rate": self.drop_rate,
                "drop_threshold": self.drop_threshold,
                "bg_threshold": self.bg_threshold,
                "use_non_local": self.use_non_local,
                "non_local_sub_sample": self.non_local_sub_sample,
                "inter_channels": self.inter_channels,
                "non_local_reduction": self.non_local_reduction,
                "attention_source": self.attention_source,
                "mask_mode": self.mask_mode,
                "forward_mask": self.forward_mask,
                "pooled_feature": self.pooled_feature,
                "epsilon": self.epsilon,
                "seed": self.seed,
            }
        )
        return config
