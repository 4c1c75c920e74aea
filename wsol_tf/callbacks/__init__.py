"""Keras callbacks of wsol_tf."""

from wsol_tf.callbacks.localization_metrics import LocalizationMetricsCallback  # noqa: F401
