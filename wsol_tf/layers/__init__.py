"""Keras layers of wsol_tf: non-local block, attention dropout, pooling, CAM."""

from wsol_tf.layers.attention_dropout import AttentionDropout
from wsol_tf.layers.attention_dropout import attention_masks
from wsol_tf.layers.attention_dropout import channel_mean_attention
from wsol_tf.layers.class_activation_map import ClassActivationMap
from wsol_tf.layers.class_activation_map import class_activation_maps
from wsol_tf.layers.class_activation_map import select_class_maps
from wsol_tf.layers.class_activation_map import top_k_class_maps
from wsol_tf.layers.icl_attention_block import ICLAttentionBlock
from wsol_tf.layers.masked_average_pooling import MaskedAveragePooling
from wsol_tf.layers.masked_average_pooling import masked_average_pool
from wsol_tf.layers.non_local_block import NonLocalBlock

__all__ = [
    "AttentionDropout",
    "ClassActivationMap",
    "ICLAttentionBlock",
    "MaskedAveragePooling",
    "NonLocalBlock",
    "attention_masks",
    "channel_mean_attention",
    "class_activation_maps",
    "masked_average_pool",
    "select_class_maps",
    "top_k_class_maps",
]
