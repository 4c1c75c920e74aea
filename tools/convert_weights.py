"""Convert PyTorch (torchvision / wsolevaluation) checkpoints to wsol_tf.

The tool is `wsol_tf/cli/convert_weights.py`; installed, also the console script
`wsol-convert-weights`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TF C++ start-up

from absl import flags  # noqa: E402

from wsol_tf.cli import convert_weights  # noqa: E402

flags.adopt_module_key_flags(convert_weights)  # listed by --helpshort

if __name__ == "__main__":
    convert_weights.run()
