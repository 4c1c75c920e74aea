"""wsol_tf: weakly supervised object localization in Keras 3 / TensorFlow.

ICL (Ki et al., ACCV 2020) with the CAM and ADL baselines and the
MaxBoxAccV2 / GT-known / Top-1 Loc / PxAP evaluation protocol.
"""

from wsol_tf.version import __version__  # noqa: F401
