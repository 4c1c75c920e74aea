"""Localization evaluation with the wsolevaluation protocol (Choe et al.).

MaxBoxAcc / MaxBoxAccV2 (`BoxEvaluator`, exact and fast), GT-known / Top-1
Loc (`LocalizationAccuracy`), PxAP (`MaskEvaluator`), the CAM
post-processing helpers and `evaluate_model` for a Keras WSOL model.
`reference` holds the literal wsolevaluation loop used as the oracle.
"""

from wsol_tf.box_ops import iou_matrix  # noqa: F401
from wsol_tf.evaluation.box_evaluator import BoxEvaluator  # noqa: F401
from wsol_tf.evaluation.cam_ops import normalize_scoremap  # noqa: F401
from wsol_tf.evaluation.cam_ops import resize_cam  # noqa: F401
from wsol_tf.evaluation.cam_ops import scoremaps_from_cams  # noqa: F401
from wsol_tf.evaluation.cam_to_boxes import cam_to_boxes  # noqa: F401
from wsol_tf.evaluation.localization import LocalizationAccuracy  # noqa: F401
from wsol_tf.evaluation.mask_evaluator import MaskEvaluator  # noqa: F401
from wsol_tf.evaluation.runner import FALLBACK_CAM_THRESHOLD  # noqa: F401
from wsol_tf.evaluation.runner import EvalResult  # noqa: F401
from wsol_tf.evaluation.runner import best_thresholds  # noqa: F401
from wsol_tf.evaluation.runner import evaluate_model  # noqa: F401
from wsol_tf.evaluation.runner import serving_threshold  # noqa: F401
