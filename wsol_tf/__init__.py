"""wsol_tf: weakly supervised object localization in Keras 3 / TensorFlow.

ICL (Ki et al., ACCV 2020) with the CAM and ADL baselines and the
MaxBoxAccV2 / GT-known / Top-1 Loc / PxAP evaluation protocol.

Importing the package registers every Keras-serializable class it defines
(the model, its layers, losses, objective and optimizer), so a checkpoint
loads after `import wsol_tf` alone:

>>> import keras, wsol_tf
>>> model = keras.saving.load_model("runs/demo/checkpoints/last.keras")
"""

from wsol_tf.version import __version__  # noqa: F401
from wsol_tf.errors import WSOLError  # noqa: F401

# Registration (keras.saving.register_keras_serializable) happens when the
# defining modules are imported; these cover every registered class.
from wsol_tf import layers as _layers  # noqa: E402,F401
from wsol_tf import losses as _losses  # noqa: E402,F401
from wsol_tf import models as _models  # noqa: E402,F401
from wsol_tf import optimizers as _optimizers  # noqa: E402,F401
