"""Hyper-parameter search on the val split (train-fullsup) with KerasTuner.

`run_search(config, space)` runs a KerasTuner search in which one trial is
one `wsol_tf.training.run_training` run; `SEARCH_SPACES` declares each
method's space. `tools/tune.py` is the command-line front end.
"""

from wsol_tf.tuning.results import config_to_flags  # noqa: F401
from wsol_tf.tuning.search import run_search  # noqa: F401
from wsol_tf.tuning.space import SEARCH_SPACES  # noqa: F401
from wsol_tf.tuning.space import Range  # noqa: F401
from wsol_tf.tuning.space import default_space  # noqa: F401
from wsol_tf.tuning.space import describe_spaces  # noqa: F401
from wsol_tf.tuning.space import parse_range  # noqa: F401
from wsol_tf.tuning.space import validate_space  # noqa: F401
from wsol_tf.tuning.tuner import WSOLTuner  # noqa: F401
