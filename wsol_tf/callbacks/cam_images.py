"""TensorBoard images of CAM overlays during training."""

import os

import keras
import numpy as np

from wsol_tf import visualization


class CamImageSummary(keras.callbacks.Callback):
    """Writes CAM overlays of a few validation images to TensorBoard.

    Args:
        batch: an evaluation batch dict ("images", "labels", "boxes").
        log_dir: TensorBoard directory (a `cams` subdirectory is used).
        normalization: `DataConfig.normalization` of the images.
        max_images: how many images to show.
    """

    def __init__(self, batch, log_dir, normalization, max_images=8):
        super().__init__()
        self.images = np.asarray(batch["images"])[:max_images]
        self.labels = np.asarray(batch["labels"])[:max_images]
        self.boxes = np.asarray(batch["boxes"])[:max_images]
        self.log_dir = os.path.join(log_dir, "cams")
        self.normalization = normalization
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        scoremaps = visualization.compute_scoremaps(
            self.model, self.images, self.labels
        )
        rgb = visualization.to_uint8_images(self.images, self.normalization)
        tiles = [
            visualization.draw_boxes(
                visualization.overlay_cam(image, cam),
                box,
                visualization.GT_COLOR,
            )
            for image, cam, box in zip(rgb, scoremaps, self.boxes)
        ]
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            tf.summary.image(
                "val_cams", np.stack(tiles), step=epoch, max_outputs=len(tiles)
            )
        self._writer.flush()
