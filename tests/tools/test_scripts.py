"""Flag parsing and error messages of the tools/ scripts (subprocesses)."""

import os
import subprocess
import sys

import pytest
from tool_runner import run_tool_subprocess  # noqa: I001 (tests/)

# Whole training runs or tools in subprocesses.
pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


_run = run_tool_subprocess


@pytest.mark.parametrize(
    "script", ["train.py", "evaluate.py", "export.py", "visualize.py"]
)
def test_unknown_flag_is_fatal(script):
    model = [] if script == "train.py" else ["--model_path=x"]
    result = _run(script, *model, "--no_such_flag=1")
    assert result.returncode == 1
    assert "FATAL Flags parsing error" in result.stderr
    assert "no_such_flag" in result.stderr


def test_train_rejects_the_flags_of_the_model_reading_tools():
    result = _run("train.py", "--model_path=x")
    assert result.returncode == 1
    assert "FATAL Flags parsing error" in result.stderr
    assert "model_path" in result.stderr
    # None of the four is defined once tools/train.py is loaded; each is
    # defined by the tools that read a trained model.
    names = ("model_path", "checkpoint", "split", "cam_threshold")
    code = (
        "import importlib.util, sys; from absl import flags; "
        "s = importlib.util.spec_from_file_location('t', sys.argv[1]); "
        "s.loader.exec_module(importlib.util.module_from_spec(s)); "
        f"print(sorted(n for n in {names!r} if n in flags.FLAGS))"
    )
    defined = {}
    for script in ("train", "evaluate", "export", "visualize"):
        out = subprocess.run(
            [sys.executable, "-c", code, f"{REPO}/tools/{script}.py"],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=240,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        )
        defined[script] = out.stdout.strip()
    assert defined == {
        "train": "[]",
        "evaluate": "['checkpoint', 'model_path', 'split']",
        "export": "['cam_threshold', 'checkpoint', 'model_path']",
        "visualize": "['cam_threshold', 'checkpoint', 'model_path', 'split']",
    }


def test_bad_enum_and_bad_range_name_the_flag():
    result = _run("train.py", "--architecture=alexnet")
    assert result.returncode == 1
    assert "--architecture" in result.stderr and "alexnet" in result.stderr
    result = _run("train.py", "--epochs=0")
    assert result.returncode == 1
    assert "--epochs" in result.stderr and "epochs=0" in result.stderr


def test_missing_dataset_is_a_clear_error(tmp_path):
    missing = str(tmp_path / "no_such_dataset")
    result = _run(
        "train.py",
        "--dataset_name=cub",
        f"--data_root={missing}",
        f"--metadata_root={missing}",
        f"--model_dir={tmp_path / 'run'}",
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("ERROR:")
    assert missing in result.stderr
    assert "Traceback" not in result.stderr


def test_required_and_missing_model_path(tmp_path):
    result = _run("evaluate.py")
    assert result.returncode == 1
    assert "--model_path" in result.stderr
    missing = str(tmp_path / "nothing_here")
    for script in ("evaluate.py", "export.py", "visualize.py"):
        result = _run(script, f"--model_path={missing}")
        assert result.returncode == 1, script
        assert missing in result.stderr and "Traceback" not in result.stderr


def test_flagfile_include_resolves_outside_the_repo(tmp_path):
    # Relative nested include (flags/datasets/cub.flags) from another
    # directory; a bad value after it proves the file was read in order.
    flagfile = os.path.join(REPO, "flags", "cub_vgg16_cam.flags")
    result = _run(
        "train.py", f"--flagfile={flagfile}", "--batch_size=0", cwd=tmp_path
    )
    assert result.returncode == 1
    assert "--batch_size" in result.stderr
