"""The learning-rate schedule of a training run.

The callbacks live in `wsol_tf.callbacks`; their names stay importable here.
"""

from wsol_tf.callbacks import MONITOR  # noqa: F401
from wsol_tf.callbacks import AtomicBackupAndRestore  # noqa: F401
from wsol_tf.callbacks import AtomicModelCheckpoint  # noqa: F401
from wsol_tf.callbacks import CamImageSummary  # noqa: F401


def step_decay(learning_rate, decay_epochs, decay_factor):
    """Per-epoch step decay: `lr * factor ** (epoch // decay_epochs)`."""

    def schedule(epoch, lr=None):
        del lr
        return float(learning_rate * decay_factor ** (epoch // decay_epochs))

    return schedule
