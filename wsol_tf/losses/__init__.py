"""Losses of wsol_tf: triplet, NT-Xent and foreground consistency."""

from wsol_tf.losses.consistency import ConsistencyLoss
from wsol_tf.losses.consistency import consistency_loss
from wsol_tf.losses.consistency import normalize_attention
from wsol_tf.losses.nt_xent import NTXentLoss
from wsol_tf.losses.nt_xent import cosine_similarity
from wsol_tf.losses.nt_xent import nt_xent
from wsol_tf.losses.triplet import TripletLoss
from wsol_tf.losses.triplet import pairwise_distance
from wsol_tf.losses.triplet import triplet_loss

__all__ = [
    "ConsistencyLoss",
    "NTXentLoss",
    "TripletLoss",
    "consistency_loss",
    "cosine_similarity",
    "normalize_attention",
    "nt_xent",
    "pairwise_distance",
    "triplet_loss",
]
