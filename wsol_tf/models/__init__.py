"""WSOLModel (CAM / ADL / ICL), its builder and its training objective."""

from wsol_tf.models.objective import WSOLObjective
from wsol_tf.models.wsol_model import OUTPUT_CAMS
from wsol_tf.models.wsol_model import OUTPUT_LOGITS
from wsol_tf.models.wsol_model import WSOLModel
from wsol_tf.models.wsol_model import build_model

__all__ = [
    "OUTPUT_CAMS",
    "OUTPUT_LOGITS",
    "WSOLModel",
    "WSOLObjective",
    "build_model",
]
