"""tools/train.py and tools/evaluate.py on faults (issue 13): a diverging
run, a model_dir held by another process, a full disk at the metrics
write, a non-finite or corrupt model: one `ERROR:` line, exit 1, nothing
good lost."""

import copy
import errno
import glob
import json
import os
import shutil
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from absl import flags
from tool_runner import SMOKE
from tool_runner import SMOKE_SIZE as SIZE
from tool_runner import run_tool_in_process  # noqa: I001 (tests/)

from wsol_tf import io_utils
from wsol_tf import training
from wsol_tf.cli import config_flags
from wsol_tf.cli import flagfiles
from wsol_tf.errors import DivergenceError
from wsol_tf.errors import WSOLError

# Whole training runs or tools in subprocesses.
pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SMALL = [
    f"--flagfile={SMOKE}",
    "--architecture=vgg16",
    f"--image_size={SIZE}",
    f"--resize_size={SIZE + 4}",
    f"--eval_image_size={SIZE}",
    "--noexport",
    "--novisualize",
]


def _config(tmp, *extra):
    fv = copy.deepcopy(flags.FLAGS)
    flagfiles.parse_flags(
        [
            "train.py",
            *SMALL,
            f"--model_dir={tmp / 'run'}",
            f"--cache_dir={tmp / 'cache'}",
            *extra,
        ],
        fv,
    )
    return config_flags.config_from_flags(fv)


def _train_tool(tmp, *extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    return subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "train.py"),
            *SMALL,
            f"--model_dir={tmp / 'run'}",
            f"--cache_dir={tmp / 'cache'}",
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def _one_error_line(result, start):
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    lines = [s for s in result.stderr.splitlines() if s.startswith("ERROR:")]
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith(f"ERROR: {start}"), lines[0]
    return lines[0]


def _bytes(path):
    with open(path, "rb") as f:
        return f.read()


def test_train_tool_fails_on_a_real_nan(tmp_path):
    result = _train_tool(tmp_path, "--learning_rate=1e6")
    line = _one_error_line(result, "Training diverged at epoch 1, step ")
    assert "_loss is nan" in line
    assert "at learning rate 100000." in line  # 1e6 with smoke's decay
    run = tmp_path / "run"
    assert not os.path.exists(run / "checkpoints" / "best.keras")
    assert not os.path.exists(run / "checkpoints" / "last.keras")
    assert not os.path.exists(run / "saved_model")
    assert not os.path.exists(run / "metrics_test.json")
    assert not os.path.exists(run / ".lock")  # released


HOLDER = textwrap.dedent(
    """
    import sys, time
    from wsol_tf.training import run_lock
    lock = run_lock.acquire(sys.argv[1])  # held while referenced
    print("locked", flush=True)
    time.sleep(600)
    """
)


def test_train_tool_refuses_a_model_dir_held_by_another_process(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run)],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=REPO),
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = _train_tool(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    line = _one_error_line(result, f"{run} is used by another run (pid ")
    assert f"pid {holder.pid} on " in line
    assert sorted(os.listdir(run)) == [".lock"]  # nothing written


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    """One finished epoch at a sane learning rate."""
    tmp = tmp_path_factory.mktemp("good")
    config = _config(tmp, "--epochs=1")
    training.run_training(config, verbose=0)
    return tmp


def test_divergence_after_a_good_epoch_keeps_its_checkpoint(good_run, tmp_path):
    tmp = tmp_path / "copy"
    shutil.copytree(good_run, tmp)
    run = tmp / "run"
    files = [
        run / "checkpoints" / "last.keras",
        run / "checkpoints" / "best.keras",  # the good epoch's
        run / "checkpoints" / "best.json",
        run / "backup" / "latest.weights.h5",
        run / "backup" / "training_metadata.json",
    ]
    before = [_bytes(p) for p in files]
    # Resumed with a learning rate that blows up in the second epoch (a
    # run recorded with it: other settings would be refused).
    record = json.loads((run / "config.json").read_text())
    record["train"].update(epochs=2, learning_rate=1e6)
    (run / "config.json").write_text(json.dumps(record))
    config = _config(tmp, "--epochs=2", "--learning_rate=1e6")
    with pytest.raises(DivergenceError, match="epoch 2, step"):
        training.run_training(config, verbose=0)
    assert [_bytes(p) for p in files] == before
    model = keras.saving.load_model(files[0])
    assert all(np.isfinite(np.asarray(w)).all() for w in model.weights)


def test_a_rerun_with_other_settings_keeps_the_record(good_run, tmp_path):
    shutil.copytree(good_run, tmp_path, dirs_exist_ok=True)
    run = tmp_path / "run"
    names = ("config.json", "history.csv", "metrics_test.json")
    before = {name: _bytes(run / name) for name in names}
    result = _train_tool(tmp_path, "--epochs=1", "--learning_rate=0.05")
    line = _one_error_line(
        result, f"{run} holds a run made with other settings ("
    )
    assert "(learning_rate: 0.01 -> 0.05): " in line
    assert "another --model_dir, or --overwrite " in line
    assert {name: _bytes(run / name) for name in names} == before
    assert not glob.glob(f"{run}.old-*")


def test_overwrite_moves_the_run_aside_and_a_match_resumes(good_run, tmp_path):
    shutil.copytree(good_run, tmp_path, dirs_exist_ok=True)
    run = tmp_path / "run"
    old = {name: _bytes(run / name) for name in ("config.json", "history.csv")}
    # Two changed settings and one that cannot change the result.
    config = _config(
        tmp_path,
        "--epochs=1",
        "--learning_rate=0.05",
        "--batch_size=4",
        "--cam_curve_interval=0.05",
    )
    with pytest.raises(WSOLError) as info:
        training.run_training(config, verbose=0)
    assert "(batch_size: 2 -> 4; learning_rate: 0.01 -> 0.05)" in str(
        info.value
    )
    # Evaluation-only settings differ: the finished run is re-evaluated.
    same = _config(tmp_path, "--epochs=1", "--cam_curve_interval=0.05")
    _, history, _ = training.run_training(same, verbose=0)
    assert history.epoch == []  # nothing retrained
    assert _bytes(run / "history.csv") == old["history.csv"]
    # --overwrite: the old run, untouched, next to a fresh one.
    config = config.replace(train=config.train.replace(overwrite=True))
    _, history, _ = training.run_training(config, verbose=0)
    assert history.epoch == [0]
    (aside,) = glob.glob(f"{run}.old-*")
    assert _bytes(os.path.join(aside, "history.csv")) == old["history.csv"]
    assert (
        json.loads(_bytes(os.path.join(aside, "config.json")))["train"][
            "learning_rate"
        ]
        == 0.01
    )
    record = json.loads((run / "config.json").read_text())
    assert record["train"]["learning_rate"] == 0.05
    assert record["data"]["batch_size"] == 4


_run_tool = run_tool_in_process


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_evaluate_prints_the_table_when_the_write_fails(
    good_run, tmp_path, monkeypatch, capsys
):
    output = tmp_path / "out" / "eval.json"
    monkeypatch.setattr(io_utils, "_move_into_place", _enospc)
    _run_tool(
        "evaluate", f"--model_path={good_run / 'run'}", f"--output={output}"
    )
    captured = capsys.readouterr()
    assert "MaxBoxAccV2 (mean)" in captured.out
    assert captured.err.strip() == (
        f"WARNING: metrics not saved: Cannot write {output}: [Errno 28] No "
        "space left on device."
    )
    assert os.listdir(tmp_path / "out") == []  # no temporary left


def test_evaluate_refuses_non_finite_weights(good_run, tmp_path):
    model = keras.saving.load_model(
        good_run / "run" / "checkpoints" / "last.keras"
    )
    variable = model.trainable_weights[0]
    value = np.array(variable)
    value.flat[0] = np.nan
    variable.assign(value)
    path = tmp_path / "nan.keras"
    model.save(path)
    shutil.copy(good_run / "run" / "config.json", tmp_path / "config.json")
    with pytest.raises(SystemExit) as info:
        _run_tool("evaluate", f"--model_path={path}")
    message = str(info.value.code)
    assert message.startswith(f"ERROR: Refusing to use {path}: 1 weight")
    assert "\n" not in message


def test_evaluate_names_a_corrupt_checkpoint(good_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(good_run / "run", run)
    last = run / "checkpoints" / "last.keras"
    last.write_bytes(_bytes(last)[: os.path.getsize(last) // 2])
    with pytest.raises(SystemExit) as info:
        _run_tool("evaluate", f"--model_path={run}")
    message = str(info.value.code)
    assert message.startswith(f"ERROR: {last} is not a valid .keras archive: ")
    assert message.endswith(
        "Try the run's other checkpoint: --checkpoint=best."
    )


def test_evaluate_refuses_a_wrong_image_size(good_run, tmp_path):
    shutil.copytree(good_run, tmp_path, dirs_exist_ok=True)
    run = tmp_path / "run"
    record = (run / "config.json").read_text()
    (run / "config.json").write_text(
        record.replace(str(good_run), str(tmp_path))
    )
    meta = json.loads(record)["data"]["metadata_root"]
    sizes = (
        tmp_path / os.path.relpath(meta, good_run) / "test" / "image_sizes.txt"
    )
    lines = sizes.read_text().splitlines()
    image_id = lines[1].split(",")[0]
    lines[1] = f"{image_id},300,300"
    sizes.write_text("\n".join(lines) + "\n")
    with pytest.raises(SystemExit) as info:
        _run_tool("evaluate", f"--model_path={run}")
    message = str(info.value.code)
    assert "\n" not in message
    assert message.startswith("ERROR: 1 image size(s) in image_sizes.txt ")
    assert f"{sizes}:2: image '{image_id}' is " in message
    assert message.endswith("but image_sizes.txt says 300x300")
