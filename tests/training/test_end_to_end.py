"""Smoke training end to end: train -> kill -> resume -> evaluate -> export
-> load in a fresh process -> same CAM; then the tools on the run."""

import csv
import importlib.util
import json
import os
import subprocess
import sys

import cv2
import keras
import numpy as np
import pytest
from tool_runner import SMOKE
from tool_runner import SMOKE_SIZE as SIZE
from tool_runner import load_tool  # noqa: I001 (tests/)
from tool_runner import run_tool_in_process
from tool_runner import smoke_config

from wsol_tf import training
from wsol_tf import visualization
from wsol_tf.config import ExperimentConfig

# Whole training runs or tools in subprocesses.
pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


class _Killed(Exception):
    pass


class _KillAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise _Killed()


class _Probe(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.iterations = int(self.model.optimizer.iterations.numpy())
        self.weights = [np.array(w) for w in self.model.get_weights()]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    config = smoke_config(tmp)
    run_dir = config.train.model_dir
    # 1) Killed at the start of epoch 1, after epoch 0 was backed up.
    with pytest.raises(_Killed):
        training.run_training(config, callbacks=[_KillAtEpoch(1)], verbose=0)
    last = keras.saving.load_model(
        os.path.join(run_dir, "checkpoints", "last.keras")
    )
    after_epoch0 = [np.array(w) for w in last.get_weights()]
    # 2) Rerun: resumes from the backup.
    probe = _Probe()
    model, history, final = training.run_training(
        config, callbacks=[probe], verbose=0
    )
    return dict(
        config=config,
        run_dir=run_dir,
        model=model,
        history=history,
        final=final,
        probe=probe,
        after_epoch0=after_epoch0,
    )


def test_resumed_from_backup_not_from_scratch(run):
    assert run["history"].epoch == [1]  # only the missing epoch ran
    steps = run["config"].train.steps_per_epoch
    assert run["probe"].iterations == steps  # optimizer state restored
    for got, want in zip(run["probe"].weights, run["after_epoch0"]):
        np.testing.assert_array_equal(got, want)


def test_history_and_learning_rate_schedule(run):
    with open(os.path.join(run["run_dir"], "history.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    # smoke.flags: lr 0.01, x0.1 every epoch, before the epoch as
    # wsolevaluation's adjust_learning_rate(epoch + 1).
    lrs = [float(r["learning_rate"]) for r in rows]
    np.testing.assert_allclose(lrs, [0.001, 0.0001], rtol=1e-6)
    assert training.step_decay(0.01, 15, 0.1)(43) == pytest.approx(1e-4)


def test_run_directory_contents(run):
    run_dir = run["run_dir"]
    with open(os.path.join(run_dir, "config.json")) as f:
        saved = ExperimentConfig.from_json(f.read())
    assert saved.data.num_classes == 2 == saved.model.num_classes
    assert saved.train.precision == "float32"
    assert os.path.isdir(saved.data.data_root)
    names = sorted(os.listdir(os.path.join(run_dir, "checkpoints")))
    assert names in (["last.keras"], ["best.json", "best.keras", "last.keras"])
    if importlib.util.find_spec("tensorboard") is not None:
        assert os.listdir(os.path.join(run_dir, "logs", "cams"))
    with open(os.path.join(run_dir, "metrics_test.json")) as f:
        report = json.load(f)
    assert report["metrics"] == pytest.approx(run["final"])
    assert report["protocol"]["cam_curve_interval"] == 0.01
    assert report["protocol"]["iou_thresholds"] == [30, 50, 70]
    grid = cv2.imread(os.path.join(run_dir, "visualizations", "cams_test.png"))
    # 4 test images (2 classes x 2), 4 columns, 4 px padding; each tile
    # has a two-line caption band below it.
    tile = SIZE + 2 * visualization.CAPTION_LINE_HEIGHT
    assert grid.shape == (tile + 2 * 4, 4 * SIZE + 5 * 4, 3)
    curve = cv2.imread(
        os.path.join(run_dir, "visualizations", "boxacc_curve_test.png")
    )
    assert curve.shape == (480, 640, 3)


def test_saved_model_in_fresh_process_gives_the_same_cam(
    run, tmp_path, load_in_fresh_process
):
    from wsol_tf.data import build_dataset
    from wsol_tf.evaluation.cam_ops import scoremaps_from_cams

    config = run["config"]
    data = training.resolve_experiment(config).data
    batch = next(iter(build_dataset(data, "test", training=False)))
    images = batch["images"].numpy()
    out = load_in_fresh_process(
        os.path.join(run["run_dir"], "saved_model"), images, tmp_path
    )
    logits, cams = run["model"].compute_cams(images)
    np.testing.assert_allclose(
        out["logits"], np.asarray(logits), rtol=1e-5, atol=1e-4
    )
    np.testing.assert_array_equal(
        out["class_ids"], np.asarray(logits).argmax(-1)
    )
    want = scoremaps_from_cams(np.asarray(cams), SIZE)  # cv2 cubic, min-max
    np.testing.assert_allclose(out["cams"], want, atol=1e-4)
    assert out["boxes"].shape == (len(images), 4)


_tool = load_tool
_run_tool = run_tool_in_process


def test_evaluate_tool_reproduces_the_final_metrics(run, tmp_path, capsys):
    output = tmp_path / "val.json"
    _run_tool(
        "evaluate", f"--model_path={run['run_dir']}", f"--output={output}"
    )
    with open(output) as f:
        report = json.load(f)
    assert report["metrics"] == pytest.approx(run["final"])
    assert report["protocol"]["split"] == "test"
    assert "MaxBoxAcc" in capsys.readouterr().out


def test_export_and_visualize_tools(run, tmp_path):
    _run_tool(
        "export",
        f"--model_path={run['run_dir']}",
        f"--export_dir={tmp_path / 'sm'}",
        "--cam_threshold=0.3",
    )
    assert os.path.isfile(tmp_path / "sm" / "saved_model.pb")
    _run_tool(
        "visualize",
        f"--model_path={run['run_dir']}",
        f"--output_dir={tmp_path / 'vis'}",
        "--split=val",
        "--num_images=3",
        "--columns=2",
    )
    grid = cv2.imread(str(tmp_path / "vis" / "cams_val.png"))
    tile = SIZE + 2 * visualization.CAPTION_LINE_HEIGHT
    assert grid.shape == (2 * tile + 3 * 4, 2 * SIZE + 3 * 4, 3)


@pytest.mark.large
def test_train_script_with_the_smoke_flagfile(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "train.py"),
            f"--flagfile={SMOKE}",
            f"--model_dir={tmp_path / 'run'}",
            f"--cache_dir={tmp_path / 'cache'}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "MaxBoxAcc" in result.stdout
    assert os.path.isfile(tmp_path / "run" / "saved_model" / "saved_model.pb")
