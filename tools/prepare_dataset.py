r"""Download, check, extract and lay out CUB, OpenImages30k or ILSVRC.

    python tools/prepare_dataset.py --dataset=cub --root=dataset
    python tools/train.py --flagfile=flags/cub_resnet50_icl.flags \
        --data_root=dataset/CUB

See `wsol_tf/cli/prepare_dataset.py` and docs/datasets.md.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TF C++ start-up

from absl import flags  # noqa: E402

from wsol_tf.cli import prepare_dataset  # noqa: E402

flags.adopt_module_key_flags(prepare_dataset)  # listed by --helpshort

if __name__ == "__main__":
    prepare_dataset.run()
