"""wsol_tf: weakly supervised object localization in Keras 3 / TensorFlow.

ICL (Ki et al., ACCV 2020) with the CAM and ADL baselines and the
MaxBoxAccV2 / GT-known / Top-1 Loc / PxAP evaluation protocol.

Importing the package imports Keras and registers every Keras-serializable
class it defines (the model, its layers, losses, objective and optimizer),
so a checkpoint loads after `import wsol_tf` alone:

>>> import keras, wsol_tf
>>> model = keras.saving.load_model("runs/demo/checkpoints/last.keras")
"""

# The modules whose import registers every serializable class: the model
# and objective, its layers, the losses and the optimizer.
from wsol_tf import layers  # noqa: F401
from wsol_tf import losses  # noqa: F401
from wsol_tf import models  # noqa: F401
from wsol_tf import optimizers  # noqa: F401
from wsol_tf.errors import WSOLError  # noqa: F401
from wsol_tf.version import __version__  # noqa: F401
