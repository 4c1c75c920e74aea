"""Export a trained model (.keras) as a TensorFlow SavedModel for serving.

The tool is `wsol_tf/cli/export.py`; installed, also the console script
`wsol-export`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TF C++ start-up

from absl import flags  # noqa: E402

from wsol_tf.cli import export  # noqa: E402

flags.adopt_module_key_flags(export)  # listed by --helpshort

if __name__ == "__main__":
    export.run()
