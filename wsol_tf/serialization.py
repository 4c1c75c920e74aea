"""One place for the Keras serialization package name used by wsol_tf."""

import keras

PACKAGE = "wsol_tf"


def register(cls):
    """Registers `cls` for Keras serialization under the `wsol_tf` package."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)
