"""Draw CAM overlays with boxes and the BoxAcc-vs-threshold curve.

The tool is `wsol_tf/cli/visualize.py`; installed, also the console script
`wsol-visualize`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TF C++ start-up

from absl import flags  # noqa: E402

from wsol_tf.cli import visualize  # noqa: E402

flags.adopt_module_key_flags(visualize)  # listed by --helpshort

if __name__ == "__main__":
    visualize.run()
