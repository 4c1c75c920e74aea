"""Hyper-parameter search on the val split (train-fullsup), KerasTuner.

The tool is `wsol_tf/cli/tune.py`; installed, also the console script
`wsol-tune`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TF C++ start-up

from absl import flags  # noqa: E402

from wsol_tf.cli import tune  # noqa: E402

flags.adopt_module_key_flags(tune)  # listed by --helpshort

if __name__ == "__main__":
    tune.run()
