"""A stand-in model for the CAM metrics' tests.

Importable from any test module (pytest puts tests/, the directory of the
root conftest.py, on sys.path).
"""

import numpy as np


class MapModel:
    """Returns the given maps as CAMs, one per image in dataset order."""

    def __init__(self, maps):
        self.maps = list(maps)

    def compute_cams(self, images, class_ids):
        n = len(class_ids)
        batch, self.maps = self.maps[:n], self.maps[n:]
        return None, np.stack(batch).astype(np.float32)
