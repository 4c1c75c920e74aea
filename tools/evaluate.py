"""Evaluate a trained model on one split with the wsolevaluation protocol.

The tool is `wsol_tf/cli/evaluate.py`; installed, also the console script
`wsol-evaluate`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TF C++ start-up

from absl import flags  # noqa: E402

from wsol_tf.cli import evaluate  # noqa: E402

flags.adopt_module_key_flags(evaluate)  # listed by --helpshort

if __name__ == "__main__":
    evaluate.run()
