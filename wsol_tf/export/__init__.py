"""SavedModel export with float32 serving signatures (no wsol_tf to load)."""

from wsol_tf.export.saved_model import export_saved_model
from wsol_tf.export.saved_model import largest_component_boxes
from wsol_tf.export.saved_model import localize
from wsol_tf.export.saved_model import normalize_scoremaps
from wsol_tf.export.saved_model import preprocess_images

__all__ = [
    "export_saved_model",
    "largest_component_boxes",
    "localize",
    "normalize_scoremaps",
    "preprocess_images",
]
