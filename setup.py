"""Setup for wsol_tf."""

import os

from setuptools import Extension
from setuptools import find_packages
from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _version():
    scope = {}
    with open(os.path.join(HERE, "wsol_tf", "version.py")) as f:
        exec(f.read(), scope)
    return scope["__version__"]


with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
    LONG_DESCRIPTION = f.read()

# The CPU wheel is the default install target; `[gpu]` installs the CUDA one.
# Both provide the `tensorflow` module. See BUILD.md.
TF_CPU = "tensorflow-cpu>=2.21,<2.22"
TF_GPU = "tensorflow[and-cuda]>=2.21,<2.22"

setup(
    name="wsol_tf",
    version=_version(),
    description=(
        "Weakly supervised object localization in Keras 3 / TensorFlow: "
        "ICL (ACCV 2020), CAM and ADL, with the MaxBoxAccV2 protocol."
    ),
    long_description=LONG_DESCRIPTION,
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["wsol_tf", "wsol_tf.*"])
    + ["wsol_tf.presets"],
    # The preset flagfiles (flags/) install as wsol_tf/presets, where
    # `--preset=NAME` and nested `flags/...` includes find them.
    package_dir={"wsol_tf.presets": "flags"},
    package_data={
        "wsol_tf.presets": ["*.flags", "datasets/*.flags"],
        # The synthetic pretraining's shipped weights and their records.
        # wsolevaluation's metadata (CUB, OpenImages, ILSVRC val and test;
        # MIT, its notice in wsol_tf/metadata/LICENSE), read from the
        # install; the synthetic pretraining's shipped weights and records.
        "wsol_tf": [
            "metadata/LICENSE",
            "metadata/*/*/*.txt",
            "pretrained/*.weights.h5",
            "pretrained/*.json",
        ],
    },
    # One console script per tool (tools/<name>.py runs the same `run`).
    entry_points={
        "console_scripts": [
            "wsol-train=wsol_tf.cli.train:run",
            "wsol-evaluate=wsol_tf.cli.evaluate:run",
            "wsol-export=wsol_tf.cli.export:run",
            "wsol-visualize=wsol_tf.cli.visualize:run",
            "wsol-tune=wsol_tf.cli.tune:run",
            "wsol-check-dataset=wsol_tf.cli.check_dataset:run",
            "wsol-convert-weights=wsol_tf.cli.convert_weights:run",
            "wsol-make-synthetic-dataset=wsol_tf.cli.make_synthetic_dataset:run",
            "wsol-pretrain=wsol_tf.cli.pretrain:run",
            "wsol-prepare-dataset=wsol_tf.cli.prepare_dataset:run",
            "wsol-make-metadata=wsol_tf.cli.make_metadata:run",
        ]
    },
    # C kernels (need a C compiler): BoxEvaluator's MaxBoxAccV2 path, and
    # the input pipeline's resize (float arithmetic as written: no fused
    # multiply-adds, so that it computes TensorFlow's kernel's values).
    ext_modules=[
        Extension(
            "wsol_tf.evaluation._fastboxes",
            sources=["wsol_tf/evaluation/_fastboxes.c"],
        ),
        Extension(
            "wsol_tf.data._resample",
            sources=["wsol_tf/data/_resample.c"],
            extra_compile_args=[]
            if os.name == "nt"
            else ["-O3", "-ffp-contract=off"],
        ),
    ],
    install_requires=[
        "keras>=3.15,<4",
        "numpy>=1.26",
        "opencv-python-headless>=4.8",
        "absl-py>=2.0",
        # The run lock: an OS lock written through `on_acquired`.
        "filelock>=4.3",
        "h5py>=3.10",
        "tensorboard>=2.20",
    ],
    extras_require={
        "cpu": [TF_CPU],
        "gpu": [TF_GPU],
        # tools/tune.py (hyper-parameter search).
        "tune": ["keras-tuner[bayesian]>=1.4.8"],
        # torch (CPU wheel) is the reference of the converter and optimizer
        # tests; 2.13.0 is the version those were checked against.
        # pytest-xdist: the suite runs on 2 worker processes (pyproject's
        # addopts), one test file per worker.
        "test": [
            TF_CPU,
            "pytest>=8",
            "pytest-xdist>=3.5",
            "keras-tuner[bayesian]>=1.4.8",
            "torch==2.13.0",
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
