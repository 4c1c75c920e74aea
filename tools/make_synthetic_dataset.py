"""Writes the embedded synthetic WSOL dataset (see wsol_tf/data/synthetic.py).

The tool is `wsol_tf/cli/make_synthetic_dataset.py`; installed, also the
console script `wsol-make-synthetic-dataset`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TF C++ start-up

from absl import flags  # noqa: E402

from wsol_tf.cli import make_synthetic_dataset  # noqa: E402

flags.adopt_module_key_flags(make_synthetic_dataset)  # listed by --helpshort

if __name__ == "__main__":
    make_synthetic_dataset.run()
