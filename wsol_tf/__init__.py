"""wsol_tf: weakly supervised object localization in Keras 3 / TensorFlow.

ICL (Ki et al., ACCV 2020) with the CAM and ADL baselines and the
MaxBoxAccV2 / GT-known / Top-1 Loc / PxAP evaluation protocol.

Importing the package registers every Keras-serializable class it defines
(the model, its layers, losses, objective and optimizer) as soon as Keras
is imported, without importing TensorFlow itself, so a checkpoint loads
after `import wsol_tf` alone:

>>> import keras, wsol_tf
>>> model = keras.saving.load_model("runs/demo/checkpoints/last.keras")
"""

from wsol_tf import _registration  # noqa: E402
from wsol_tf.errors import WSOLError  # noqa: F401
from wsol_tf.version import __version__  # noqa: F401

# Registers the Keras classes now if Keras is imported, else right after it
# is: `import wsol_tf` alone does not import TensorFlow.
_registration.install()
