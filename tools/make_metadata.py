r"""Write wsolevaluation metadata for a folder of class folders.

    python tools/make_metadata.py --image_dir=dataset/ILSVRC/train \
        --output=metadata/ILSVRC/train --copy_shipped=ilsvrc

See `wsol_tf/cli/make_metadata.py`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TF C++ start-up

from absl import flags  # noqa: E402

from wsol_tf.cli import make_metadata  # noqa: E402

flags.adopt_module_key_flags(make_metadata)  # listed by --helpshort

if __name__ == "__main__":
    make_metadata.run()
