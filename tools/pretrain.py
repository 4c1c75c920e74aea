r"""Pretrain the synthetic stand-in for ImageNet weights, with its record.

    python tools/pretrain.py --recipe=mixed20 --output_dir=wsol_tf/pretrained

See `wsol_tf/cli/pretrain.py`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TF C++ start-up

from wsol_tf.cli.pretrain import run  # noqa: E402

if __name__ == "__main__":
    run()
