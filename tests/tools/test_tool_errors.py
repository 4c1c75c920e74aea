"""Every tool ends a user error with one `ERROR:` line and exit status 1:
no traceback, no page of flag help (issue 13)."""

import errno
import os

import pytest
from absl import app
from tool_runner import run_tool_subprocess  # noqa: I001 (tests/)
from tool_runner import tool_lines

from wsol_tf.cli import errors

# Whole training runs or tools in subprocesses.
pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _run(script, *args, cwd=None):
    # Tracebacks off, whatever the caller's environment says.
    saved = os.environ.pop(errors.TRACEBACK_ENV, None)
    try:
        return run_tool_subprocess(script, *args, cwd=cwd, timeout=300)
    finally:
        if saved is not None:
            os.environ[errors.TRACEBACK_ENV] = saved


def _garbage(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"this is not a model\n" * 10)
    return str(path)


CASES = {
    # tool, arguments (a {tmp} placeholder), a string of the ERROR line
    "export_missing_model": (
        "export.py",
        ["--model_path={tmp}/nothing_here"],
        "No model file at {tmp}/nothing_here",
    ),
    "export_stray_argument": (
        "export.py",
        ["--model_path=x", "stray"],
        "Unexpected arguments: stray (see --helpshort)",
    ),
    "visualize_missing_model": (
        "visualize.py",
        ["--model_path={tmp}/nothing_here/last.keras"],
        "No model file at {tmp}/nothing_here/last.keras",
    ),
    "tune_bad_flag_value": (
        "tune.py",
        ["--epochs=0"],
        "Bad value for flag --epochs",
    ),
    "convert_missing_checkpoint": (
        "convert_weights.py",
        [
            "--checkpoint={tmp}/none.pth",
            "--architecture=vgg16",
            "--output={tmp}/out.weights.h5",
        ],
        "--checkpoint: no such file",
    ),
    "convert_corrupt_checkpoint": (
        "convert_weights.py",
        [
            "--checkpoint={tmp}/corrupt.pth",
            "--architecture=vgg16",
            "--output={tmp}/out.weights.h5",
        ],
        "could not read {tmp}/corrupt.pth as a PyTorch checkpoint",
    ),
    "synthetic_bad_class_count": (
        "make_synthetic_dataset.py",
        ["--output_dir={tmp}/syn", "--num_classes=0"],
        "num_classes",
    ),
    "make_metadata_missing_image_dir": (
        "make_metadata.py",
        ["--image_dir={tmp}/none", "--output={tmp}/meta/train"],
        "Expected image_dir to be a directory of class folders",
    ),
    "check_dataset_unreadable_root": (
        "check_dataset.py",
        ["--metadata_root={tmp}/corrupt.pth", "--data_root={tmp}"],
        "",  # metadata problems are listed on stdout; see below
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tool_error_is_one_line(tmp_path, case):
    script, args, expected = CASES[case]
    _garbage(tmp_path, "corrupt.pth")
    tmp = str(tmp_path)
    result = _run(script, *[a.format(tmp=tmp) for a in args])
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    if script == "check_dataset.py":
        # A problem report, not an exception: one line per problem.
        assert "split directory not found" in result.stdout
        assert tool_lines(result.stderr) == [], result.stderr
        return
    lines = tool_lines(result.stderr)
    errors_lines = [ln for ln in lines if ln.startswith("ERROR: ")]
    assert len(errors_lines) == 1, result.stderr
    assert expected.format(tmp=tmp) in errors_lines[0], result.stderr
    # No help page, no traceback: the error is all the tool says there.
    assert lines == errors_lines, result.stderr


def test_flag_parsing_error_is_one_line_with_a_hint():
    result = _run("export.py", "--model_path=x", "--export_image_size=0")
    assert result.returncode == 1
    lines = tool_lines(result.stderr)
    assert len(lines) == 2, result.stderr
    assert "export_image_size" in lines[0] and "--helpshort" in lines[1]


def _fails_with(capsys, main, argv=("tool",)):
    with pytest.raises(SystemExit) as info:
        errors.one_line_errors(main)(list(argv))
    assert info.value.code == 1
    return capsys.readouterr().err


def test_one_line_errors_catches_user_errors(capsys, tmp_path):
    def full_disk(argv):
        path = str(tmp_path / "config.json")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    err = _fails_with(capsys, full_disk)
    assert err == (
        f"ERROR: [Errno 28] No space left on device: "
        f"'{tmp_path / 'config.json'}'\n"
    )

    def bad_flag(argv):
        raise errors.FlagError("Bad value for flag --epochs: epochs=0")

    err = _fails_with(capsys, bad_flag)
    assert err == (
        "ERROR: Bad value for flag --epochs: epochs=0 (see --helpshort)\n"
    )

    def usage(argv):
        raise app.UsageError("Unexpected arguments: x")

    assert "see --helpshort" in _fails_with(capsys, usage)

    def undecodable(argv):
        import tensorflow as tf

        tf.io.decode_jpeg(b"\xff\xd8 not a jpeg")

    err = _fails_with(capsys, undecodable)
    assert err.startswith("ERROR: ") and len(err.splitlines()) == 1


def test_one_line_errors_keeps_tracebacks_of_bugs(monkeypatch):
    def bug(argv):
        return {}["missing"]

    with pytest.raises(KeyError):
        errors.one_line_errors(bug)(["tool"])

    def user_error(argv):
        raise ValueError("x.txt:1: bad")

    monkeypatch.setenv(errors.TRACEBACK_ENV, "1")
    with pytest.raises(ValueError, match="x.txt:1"):
        errors.one_line_errors(user_error)(["tool"])
