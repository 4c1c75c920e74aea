"""WSOLModel (CAM / ADL / ICL) and its builder."""

from wsol_tf.models.model_losses import compute_losses
from wsol_tf.models.model_losses import loss_terms
from wsol_tf.models.wsol_model import OUTPUT_CAMS
from wsol_tf.models.wsol_model import OUTPUT_LOGITS
from wsol_tf.models.wsol_model import WSOLModel
from wsol_tf.models.wsol_model import build_model

__all__ = [
    "OUTPUT_CAMS",
    "OUTPUT_LOGITS",
    "WSOLModel",
    "build_model",
    "compute_losses",
    "loss_terms",
]
