r"""Pretrain the synthetic stand-in for ImageNet weights, with its record.

    python tools/pretrain.py --recipe=natural20 --output_dir=wsol_tf/pretrained

See `wsol_tf/cli/pretrain.py`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TF C++ start-up

from absl import flags  # noqa: E402

from wsol_tf.cli import pretrain  # noqa: E402

flags.adopt_module_key_flags(pretrain)  # listed by --helpshort

if __name__ == "__main__":
    pretrain.run()
