"""Hyper-parameter search on the val split (train-fullsup) with KerasTuner.

`run_search(config, space)` runs a KerasTuner search in which one trial is
one `wsol_tf.training.run_training` run; `SEARCH_SPACES` declares each
method's space. `tools/tune.py` is the command-line front end. The space
helpers import neither TensorFlow nor KerasTuner (the tool checks its
flags before loading them); `run_search` and `WSOLTuner` load on use.
"""

from wsol_tf.tuning.space import SEARCH_SPACES  # noqa: F401
from wsol_tf.tuning.space import Range  # noqa: F401
from wsol_tf.tuning.space import default_space  # noqa: F401
from wsol_tf.tuning.space import describe_spaces  # noqa: F401
from wsol_tf.tuning.space import parse_range  # noqa: F401
from wsol_tf.tuning.space import validate_space  # noqa: F401

_LAZY = {
    "run_search": "wsol_tf.tuning.search",
    "WSOLTuner": "wsol_tf.tuning.tuner",
    "config_to_flags": "wsol_tf.tuning.results",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'wsol_tf.tuning' has no attribute {name!r}")
