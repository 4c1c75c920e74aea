"""Mirrored training on two logical CPU devices, and a two-process
multi-worker run on localhost (subprocesses: both need a fresh runtime)."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest
from tool_runner import smoke_config  # noqa: I001 (tests/)

from wsol_tf import training

# Whole training runs or tools in subprocesses.
pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))

WORKER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    if sys.argv[1] == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from wsol_tf import training
    from wsol_tf.config import ExperimentConfig
    with open(sys.argv[2]) as f:
        config = ExperimentConfig.from_json(f.read())
    model, history, final = training.run_training(config, verbose=0)
    # Trainable weights are kept in sync; BatchNorm statistics are local.
    weights = [v.numpy() for v in model.trainable_weights]
    with open(sys.argv[3], "w") as f:
        json.dump({
            "replicas": model.distribute_strategy.num_replicas_in_sync,
            "devices": list(model.distribute_strategy.extended.worker_devices),
            "loss": history.history["total_loss"],
            "sums": [float(np.abs(w).sum()) for w in weights],
        }, f)
    """
)


def _config(tmp, strategy):
    config = smoke_config(
        tmp,
        "--batch_size=4",
        "--epochs=1",
        "--eval_every_epochs=0",
        "--novisualize",
        "--noexport",
        f"--strategy={strategy}",
    )
    # Generate the synthetic set once, here, not concurrently in workers.
    config = training.resolve_experiment(config)
    path = tmp / "config.json"
    path.write_text(config.to_json())
    return path


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **extra)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_mirrored_on_two_logical_cpus(tmp_path):
    config = _config(tmp_path, "mirrored")
    out = tmp_path / "out.json"
    subprocess.run(
        [sys.executable, "-c", WORKER, "mirrored", str(config), str(out)],
        check=True,
        env=_env(),
        cwd=str(tmp_path),
        timeout=400,
    )
    result = json.loads(out.read_text())
    assert result["replicas"] == 2
    assert len(set(result["devices"])) == 2
    assert all(v == v and abs(v) < 1e6 for v in result["loss"])  # finite
    assert os.path.isfile(tmp_path / "run" / "checkpoints" / "last.keras")


def test_multi_worker_two_processes_on_localhost(tmp_path):
    config = _config(tmp_path, "multi_worker")
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = []
    for index in range(2):
        tf_config = {
            "cluster": cluster,
            "task": {"type": "worker", "index": index},
        }
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    WORKER,
                    "multi_worker",
                    str(config),
                    str(tmp_path / f"out{index}.json"),
                ],
                env=_env(TF_CONFIG=json.dumps(tf_config)),
                cwd=str(tmp_path),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    for proc in procs:
        output, _ = proc.communicate(timeout=500)
        assert proc.returncode == 0, output[-3000:]
    results = [
        json.loads((tmp_path / f"out{i}.json").read_text()) for i in range(2)
    ]
    assert [r["replicas"] for r in results] == [2, 2]
    # Synchronous data parallelism: identical trainable weights.
    assert results[0]["sums"] == results[1]["sums"]
    # Only the chief (worker 0) writes checkpoints; worker 1 backs up aside.
    run_dir = tmp_path / "run"
    assert os.path.isfile(run_dir / "checkpoints" / "last.keras")
    assert os.path.isdir(run_dir / "backup_worker_1")
