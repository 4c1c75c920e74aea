"""Keras callbacks of wsol_tf: localization metrics, atomic checkpoints,
backup and CAM images."""

from wsol_tf.callbacks.cam_images import CamImageSummary  # noqa: F401
from wsol_tf.callbacks.checkpoint import MONITOR  # noqa: F401
from wsol_tf.callbacks.checkpoint import AtomicBackupAndRestore  # noqa: F401
from wsol_tf.callbacks.checkpoint import AtomicModelCheckpoint  # noqa: F401
from wsol_tf.callbacks.divergence import StopOnNonFinite  # noqa: F401
from wsol_tf.callbacks.history_csv import HistoryCSVLogger  # noqa: F401
from wsol_tf.callbacks.localization_metrics import LocalizationMetricsCallback  # noqa: F401
