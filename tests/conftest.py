"""Shared pytest setup: TensorFlow backend, seeds, --run_large."""

import os
import subprocess
import sys
import textwrap

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption(
        "--run_large",
        action="store_true",
        default=False,
        help="run tests marked large (224-px builds, end-to-end tools)",
    )


# Fixtures that start a fresh Python process: their tests are integration
# tests (`-m "not integration"` runs the unit tests alone).
SUBPROCESS_FIXTURES = ("run_result_script", "load_in_fresh_process")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if set(SUBPROCESS_FIXTURES) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
    if config.getoption("--run_large"):
        return
    skip = pytest.mark.skip(reason="large test: pass --run_large")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed_and_policy():
    import keras

    np.random.seed(0)
    keras.utils.set_random_seed(0)
    yield
    keras.mixed_precision.set_global_policy("float32")


LOADER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    images = np.load(sys.argv[2])
    out = loaded.serve(tf.constant(images))
    low = loaded.localize(tf.constant(images), tf.constant(0.1, tf.float32))
    given = loaded.localize_class(
        tf.constant(images), tf.range(len(images), dtype=tf.int32) % 2,
        tf.constant(0.1, tf.float32))
    assert not any(m.startswith("wsol_tf") for m in sys.modules)
    sig = loaded.signatures["serving_default"].structured_input_signature
    np.savez(sys.argv[3], low_boxes=low["boxes"].numpy(), sig=str(sig),
             given_cams=given["cams"].numpy(),
             given_boxes=given["boxes"].numpy(),
             given_class_ids=given["class_ids"].numpy(),
             **{k: v.numpy() for k, v in out.items()})
    """
)


def _load_in_fresh_process(export_dir, images, tmp_path, script=LOADER):
    """Serves `images` from a SavedModel in a new Python process that never
    imports wsol_tf; returns the saved outputs (`serve` + `localize`).

    `script` reads argv[1] (the export), argv[2] (images.npy) and writes
    argv[3] (an .npz of its results)."""
    np.save(tmp_path / "images.npy", images)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONPATH", None)
    subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(export_dir),
            str(tmp_path / "images.npy"),
            str(tmp_path / "out.npz"),
        ],
        check=True,
        env=env,
        cwd=str(tmp_path),
    )
    return np.load(tmp_path / "out.npz")


@pytest.fixture
def load_in_fresh_process():
    return _load_in_fresh_process


def _run_result_script(script):
    """Runs `script` in a fresh Python (this checkout on PYTHONPATH) and
    returns the fields of its stdout line starting with "RESULT"."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="2")
    run = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=600,
    )
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT")]
    assert lines, run.stderr[-3000:]
    return lines[0].split()[1:]


@pytest.fixture
def run_result_script():
    return _run_result_script
