"""Registers the package's Keras classes as soon as Keras is imported.

`import wsol_tf` stays free of TensorFlow (a tool's flag error is reported
at once), yet `keras.saving.load_model("last.keras")` works after
`import wsol_tf` alone: the classes register when the modules defining
them are imported, and this module imports them right after Keras itself
is (now, if it already is; else through a one-shot import hook on
`keras`). When Keras is first imported by a wsol_tf module that is itself
being imported, the other modules are imported at once (the one being
imported registers its classes when it finishes); only if one of them
needs a name not yet defined does registration wait for the next import
after that.
"""

import importlib
import importlib.abc
import importlib.util
import sys

# The modules whose import registers every serializable class: the model
# and objective, its layers, the losses and the optimizer.
MODULES = (
    "wsol_tf.layers",
    "wsol_tf.losses",
    "wsol_tf.models",
    "wsol_tf.optimizers",
)


def register_all(skip_unready=False):
    """Imports every module that registers a Keras class.

    Args:
        skip_unready: go on past a module that fails with an ImportError
            (one needing a name of a wsol_tf module still being imported).

    Returns:
        True when every module was imported.
    """
    done = True
    for name in MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            if not skip_unready:
                raise
            done = False
    return done


def _importing_wsol_tf():
    """True while a wsol_tf submodule is being imported (its classes are
    not all defined yet)."""
    return any(
        name.startswith("wsol_tf.")
        and getattr(getattr(module, "__spec__", None), "_initializing", False)
        for name, module in list(sys.modules.items())
    )


class _WhenIdle(importlib.abc.MetaPathFinder):
    """Registers at the first import lookup after wsol_tf's own imports."""

    def find_spec(self, fullname, path, target=None):
        if not _importing_wsol_tf():
            _remove(self)
            register_all()
        return None


class _AfterKeras(importlib.abc.MetaPathFinder):
    """Wraps the loader of `keras` to register once it has run.

    Stays installed until Keras is actually loaded: a mere
    `importlib.util.find_spec("keras")` (TensorFlow checks for Keras so)
    does not use it up.
    """

    _busy = False

    def find_spec(self, fullname, path, target=None):
        if fullname != "keras" or self._busy:
            return None
        self._busy = True
        try:
            spec = importlib.util.find_spec("keras")
        finally:
            self._busy = False
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            _remove(self)
            exec_module(module)
            # A module being imported is returned as it is and registers
            # its classes once it finishes.
            if not register_all(skip_unready=_importing_wsol_tf()):
                sys.meta_path.insert(0, _WhenIdle())

        spec.loader.exec_module = exec_then_register
        return spec


def _remove(finder):
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)


def install():
    """Registers now if Keras is imported, else when it is."""
    if "keras" in sys.modules:
        register_all()
    elif not any(isinstance(f, _AfterKeras) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterKeras())
