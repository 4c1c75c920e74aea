"""Validates a wsolevaluation-format dataset and lists every problem.

The tool is `wsol_tf/cli/check_dataset.py`; installed, also the console script
`wsol-check-dataset`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TF C++ start-up

from absl import flags  # noqa: E402

from wsol_tf.cli import check_dataset  # noqa: E402

flags.adopt_module_key_flags(check_dataset)  # listed by --helpshort

if __name__ == "__main__":
    check_dataset.run()
