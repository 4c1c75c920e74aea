"""A non-editable install works outside the checkout.

The package is built as a wheel and installed into a fresh folder; from a
working directory outside the checkout, with that folder first on the
path, the console scripts train the smoke preset (`--preset=smoke`: the
presets, the metadata and the pretrained weights are package data) and
evaluate it.
"""

import glob
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.integration


def _run(args, env, cwd, timeout=600):
    result = subprocess.run(
        args, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("install")
    dist, site = root / "dist", root / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    _run(
        pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", dist, REPO],
        os.environ,
        root,
    )
    (wheel,) = glob.glob(str(dist / "wsol_tf-*.whl"))
    _run(
        pip + ["install", "--no-deps", "--target", site, wheel],
        os.environ,
        root,
    )
    env = dict(os.environ, PYTHONPATH=str(site), TF_CPP_MIN_LOG_LEVEL="3")
    env["WSOL_TF_CACHE"] = str(root / "cache")
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    return site, env, elsewhere


def test_the_installed_package_is_imported_with_its_data(installed):
    site, env, cwd = installed
    code = (
        "import json, os, wsol_tf\n"
        "from wsol_tf.cli import flagfiles\n"
        "from wsol_tf.data.resolve import shipped_metadata_root\n"
        "from wsol_tf.training import pretrain\n"
        "print(json.dumps(dict(\n"
        "    package=os.path.dirname(wsol_tf.__file__),\n"
        "    presets=flagfiles.presets_dir(),\n"
        "    cub=shipped_metadata_root('cub'),\n"
        "    pretrained=sorted(os.listdir(pretrain.PACKAGE_DIR)),\n"
        "    fast=os.path.basename(\n"
        "        __import__('wsol_tf.evaluation._fastboxes').evaluation\n"
        "        ._fastboxes.__file__))))\n"
    )
    out = json.loads(
        _run([sys.executable, "-c", code], env, cwd).stdout.splitlines()[-1]
    )
    package = os.path.join(str(site), "wsol_tf")
    assert out["package"] == package
    assert out["presets"] == os.path.join(package, "presets")
    assert os.path.isfile(os.path.join(out["presets"], "datasets", "cub.flags"))
    assert os.path.isfile(
        os.path.join(out["cub"], "test", "image_ids.txt")
    ) and out["cub"].startswith(package)
    shipped = sorted(os.listdir(os.path.join(REPO, "wsol_tf", "pretrained")))
    assert out["pretrained"] == shipped
    assert out["fast"].startswith("_fastboxes")


def test_console_scripts_train_and_evaluate_from_elsewhere(installed):
    site, env, cwd = installed
    bin_dir = site / "bin"
    run_dir = cwd / "run"
    _run(
        [
            str(bin_dir / "wsol-train"),
            "--preset=smoke",
            f"--model_dir={run_dir}",
            "--export=false",
            "--visualize=false",
        ],
        env,
        cwd,
    )
    metrics = json.loads((run_dir / "metrics_test.json").read_text())
    assert 0.0 <= metrics["metrics"]["maxboxaccv2"] <= 100.0
    result = _run(
        [str(bin_dir / "wsol-evaluate"), f"--model_path={run_dir}"],
        env,
        cwd,
    )
    assert "MaxBoxAccV2" in result.stdout or "maxboxaccv2" in result.stdout
