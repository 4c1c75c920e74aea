"""Masked average pooling of a feature map (ICL's in-sample features)."""

import keras
from keras import ops

from wsol_tf.serialization import register


def masked_average_pool(features, mask, epsilon=1e-6):
    """`sum_hw(f * m) / (sum_hw(m) + epsilon)` in float32.

    Args:
        features: float tensor `[B, H, W, C]`.
        mask: float tensor `[B, H, W]` or `[B, H, W, 1]`, values in [0, 1].
        epsilon: float added to the mask area.

    Returns:
        `(pooled, valid)`: float32 `[B, C]` and float32 `[B]` with 1.0 where
        the mask has a positive area and 0.0 where it is empty (the pooled
        vector of an empty mask is exactly zero; losses skip those samples).
    """
    features = ops.cast(features, "float32")
    mask = ops.cast(mask, "float32")
    if len(mask.shape) == 3:
        mask = ops.expand_dims(mask, -1)
    total = ops.sum(features * mask, axis=(1, 2))
    area = ops.sum(mask, axis=(1, 2))
    pooled = total / (area + epsilon)
    valid = ops.cast(ops.greater(area[:, 0], 0.0), "float32")
    return pooled, valid


@register
class MaskedAveragePooling(keras.layers.Layer):
    """Average of a feature map over a (soft or hard) spatial mask.

    `z = sum_hw(f * m) / (sum_hw(m) + epsilon)`, accumulated in float32
    whatever the dtype policy (the output feeds losses). A sample whose
    mask is empty yields a zero vector and a validity flag of 0.

    Args:
        epsilon: float > 0 added to the mask area.
        **kwargs: base layer keyword arguments.

    Call arguments:
        features: float tensor `[B, H, W, C]`.
        mask: float tensor `[B, H, W]` or `[B, H, W, 1]`.

    Returns:
        `(pooled, valid)`: float32 `[B, C]` and float32 `[B]`.

    Example:
    >>> pool = MaskedAveragePooling()
    >>> z, valid = pool(keras.ops.ones((2, 4, 4, 3)), keras.ops.ones((2, 4, 4)))

    Reference:
    - [Ki et al., In-sample Contrastive Learning and Consistent Attention
        for WSOL, ACCV 2020](https://arxiv.org/abs/2009.12063)
    """

    def __init__(self, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        if not epsilon > 0:
            raise ValueError(
                f"`epsilon` must be positive. Received: epsilon={epsilon}"
            )
        self.epsilon = epsilon

    def call(self, features, mask):
        return masked_average_pool(features, mask, self.epsilon)

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config
