"""Train a WSOL model (ICL, ADL or CAM), then evaluate, visualize, export.

The tool is `wsol_tf/cli/train.py`; installed, also the console script
`wsol-train`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TF C++ start-up

from absl import flags  # noqa: E402

from wsol_tf.cli import train  # noqa: E402

flags.adopt_module_key_flags(train)  # listed by --helpshort

if __name__ == "__main__":
    train.run()
