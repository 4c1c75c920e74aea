"""Data: wsolevaluation metadata, tf.data pipelines, synthetic dataset."""

from wsol_tf.box_ops import PAD_VALUE  # noqa: F401
from wsol_tf.box_ops import rescale_boxes  # noqa: F401
from wsol_tf.data.diagnose import name_undecodable_images  # noqa: F401
from wsol_tf.data.image_ops import denormalize_images  # noqa: F401
from wsol_tf.data.image_ops import normalize_images  # noqa: F401
from wsol_tf.data.metadata import MetadataError  # noqa: F401
from wsol_tf.data.metadata import WSOLMetadata  # noqa: F401
from wsol_tf.data.metadata import infer_num_classes  # noqa: F401
from wsol_tf.data.metadata import read_metadata  # noqa: F401
from wsol_tf.data.metadata import validate_dataset  # noqa: F401
from wsol_tf.data.pipeline import build_dataset  # noqa: F401
from wsol_tf.data.resolve import default_cache_dir  # noqa: F401
from wsol_tf.data.resolve import resolve_dataset  # noqa: F401
from wsol_tf.data.synthetic import ensure_synthetic_dataset  # noqa: F401
from wsol_tf.data.synthetic import generate_synthetic_dataset  # noqa: F401
