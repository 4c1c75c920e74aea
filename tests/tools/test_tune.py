"""tools/tune.py: search space checks, best.flags, kill + resume, chief/worker.

The searches run tiny trials (smoke-sized synthetic set, 64-px images,
one step of one epoch, batch 2) as subprocesses of tools/tune.py.
"""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from absl import flags
from tool_runner import tool_lines  # noqa: I001 (tests/)

from wsol_tf import config as config_lib
from wsol_tf.cli import config_flags
from wsol_tf.cli import flagfiles
from wsol_tf.tuning import space as space_lib
from wsol_tf.tuning.results import config_to_flags

# Whole training runs or tools in subprocesses.
pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
TUNE = os.path.join(REPO, "tools", "tune.py")
TINY = [
    "--flagfile=flags/smoke.flags",
    "--architecture=vgg16",
    "--epochs=1",
    "--steps_per_epoch=1",
    "--lr_decay_epochs=1",
    "--search_space=batch_size=choice:2",
]


def _env(**extra):
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO, **extra)


def _tune(*args, env=None, timeout=400):
    return subprocess.run(
        [sys.executable, TUNE, *args],
        capture_output=True,
        text=True,
        env=env or _env(),
        cwd=REPO,
        timeout=timeout,
    )


def _read(path):
    with open(path) as f:
        return f.read()


def _config_of_flagfile(path):
    fv = flags.FlagValues()
    config_flags.define_config_flags(fv)
    flagfiles.parse_flags(["train.py", f"--flagfile={path}"], flag_values=fv)
    return config_flags.config_from_flags(fv)


def _last_epoch(run_dir, key):
    with open(os.path.join(run_dir, "history.csv")) as f:
        rows = list(csv.DictReader(f))
    return len(rows), float(rows[-1][key])


# -- search space ------------------------------------------------------------


@pytest.mark.parametrize("method", config_lib.METHODS)
@pytest.mark.parametrize("contrastive", ["triplet", "nt_xent", "none"])
def test_declared_spaces_are_valid_settings(method, contrastive):
    base = config_lib.ExperimentConfig()
    space = space_lib.default_space(method, contrastive)
    space_lib.validate_space(space, base)
    assert space["learning_rate"] == space_lib.Range("log", 1e-5, 1.0)
    if method != "cam":
        assert space["drop_rate"] == space_lib.Range("uniform", 0.0, 1.0)
    if method == "icl":
        searched = {"triplet": "margin", "nt_xent": "temperature"}
        if contrastive in searched:
            assert searched[contrastive] in space
        assert {"bg_threshold", "ca_weight", "fc_weight"} <= set(space)


def test_parse_range_gives_the_setting_types():
    assert space_lib.parse_range("batch_size=choice:16,32") == (
        "batch_size",
        space_lib.Range("choice", values=(16, 32)),
    )
    name, rng = space_lib.parse_range("normalize_embeddings=choice:true")
    assert rng.values == (True,) and isinstance(rng.values[0], bool)
    assert space_lib.parse_range("margin=log:0.1:2") == (
        "margin",
        space_lib.Range("log", 0.1, 2.0),
    )


@pytest.mark.parametrize(
    "entry, words",
    [
        ("drop_rate=uniform:0:1.5", ["drop_rate", "[0, 1]", "1.5"]),
        ("drop_threshold=uniform:0:1", ["drop_threshold", "(0, 1]"]),
        ("learning_rate=log:0:1", ["learning_rate", "LOW > 0"]),
        ("margin=uniform:2:1", ["margin", "LOW < HIGH"]),
        ("no_such=uniform:0:1", ["no_such", "not a setting"]),
        ("batch_size=choice:2.5", ["batch_size", "int"]),
        ("mask_mode=choice:hard,blurry", ["mask_mode", "blurry"]),
        ("drop_rate=0.5", ["drop_rate=0.5", "NAME=uniform:LOW:HIGH"]),
    ],
)
def test_bad_search_space_flag_is_one_clear_line(tmp_path, entry, words):
    result = _tune(f"--model_dir={tmp_path}", f"--search_space={entry}")
    assert result.returncode == 1
    lines = tool_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), result.stderr
    for word in words:
        assert word in lines[0]
    assert not os.listdir(tmp_path)


def test_ranges_are_in_helpfull():
    result = _tune("--helpfull")
    text = " ".join(result.stdout.split())
    for method in config_lib.METHODS:
        for name, rng in space_lib.SEARCH_SPACES[method].items():
            assert f"{name}={rng}" in text


def test_best_flags_lines_reproduce_every_setting(tmp_path):
    config = config_lib.ExperimentConfig()
    config = config.replace(
        data=config.data.replace(cache=True, num_classes=3, data_root="a b"),
        model=config.model.replace(drop_threshold=0.123456789012345),
        loss=config.loss.replace(normalize_embeddings=True),
        train=config.train.replace(nesterov=False, learning_rate=1 / 3),
        eval=config.eval.replace(iou_thresholds=(25, 75)),
    )
    path = tmp_path / "x.flags"
    path.write_text("\n".join(config_to_flags(config)) + "\n")
    assert _config_of_flagfile(str(path)) == config


# -- searches ----------------------------------------------------------------


def test_search_picks_the_best_and_resumes_after_a_kill(tmp_path):
    model_dir = str(tmp_path / "search")
    args = [*TINY, f"--model_dir={model_dir}", "--max_trials=2"]
    first = subprocess.Popen(
        [sys.executable, TUNE, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
        cwd=REPO,
    )
    trial0 = os.path.join(model_dir, "trials", "trial_0")
    deadline = time.time() + 300
    while time.time() < deadline and first.poll() is None:
        path = os.path.join(trial0, "trial.json")
        if os.path.exists(path) and '"COMPLETED"' in _read(path):
            break
        time.sleep(0.5)
    assert first.poll() is None, "the search ended before it was killed"
    first.send_signal(signal.SIGKILL)
    first.wait()
    result0 = _read(os.path.join(trial0, "result.json"))

    resumed = _tune(*args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # Trial 0 ran once: its result is the first process's, one epoch logged.
    assert _read(os.path.join(trial0, "result.json")) == result0
    assert "Reloading Tuner" in resumed.stdout

    with open(os.path.join(model_dir, "trials.json")) as f:
        rows = json.load(f)
    assert [r["trial_id"] for r in rows] == ["0", "1"]
    key = "val_maxboxaccv2"
    for row in rows:
        assert row["status"] == "COMPLETED"
        epochs, value = _last_epoch(row["dir"], key)
        assert epochs == 1 and value == pytest.approx(row["score"])
        saved = json.loads(_read(os.path.join(row["dir"], "config.json")))
        # No trial evaluated the test split.
        assert saved["data"]["test_split"] == "val"
        assert not os.path.exists(os.path.join(row["dir"], "metrics_test.json"))
    top = max(r["score"] for r in rows)
    best = next(r for r in rows if r["score"] == top)  # ties: the first

    test = json.loads(_read(os.path.join(model_dir, "best_test.json")))
    assert test["trial_id"] == best["trial_id"] and test["split"] == "test"
    assert 0 <= test["metrics"]["maxboxaccv2"] <= 100

    # best.flags gives exactly the best trial's config (not its model_dir).
    parsed = _config_of_flagfile(os.path.join(model_dir, "best.flags"))
    recorded = config_lib.ExperimentConfig.from_json(
        _read(os.path.join(best["dir"], "trial_config.json"))
    )
    assert parsed.train.model_dir == os.path.join(model_dir, "best_run")
    assert (
        parsed.replace(
            train=parsed.train.replace(model_dir=recorded.train.model_dir)
        )
        == recorded
    )
    for name, value in best["values"].items():
        section = getattr(parsed, space_lib._section(space_lib.owner_of(name)))
        assert getattr(section, name) == pytest.approx(value)
    # The base settings of the search are in it too.
    assert parsed.model.architecture == "vgg16"
    assert parsed.data.synthetic_image_size == 96

    again = _tune(*args, "--search_space=margin=log:0.1:1")
    assert again.returncode == 1
    assert "different space" in again.stderr

    # A damaged checkpoint of the best trial: its test report fails in one
    # line naming the file (checked loading, as the tools load).
    last = os.path.join(best["dir"], "checkpoints", "last.keras")
    with open(last, "wb") as f:
        f.write(b"PK\x03\x04 truncated")
    os.remove(os.path.join(model_dir, "best_test.json"))
    damaged = _tune(*args)
    assert damaged.returncode == 1
    assert f"{last} is not a valid .keras archive" in damaged.stderr


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_distributed_chief_and_worker_on_localhost(tmp_path):
    model_dir = str(tmp_path / "search")
    args = [
        TUNE,
        *TINY,
        "--method=cam",
        f"--model_dir={model_dir}",
        "--max_trials=1",
    ]
    port = str(_free_port())
    procs = {}
    for tuner_id in ("chief", "tuner0"):
        env = _env(
            KERASTUNER_TUNER_ID=tuner_id,
            KERASTUNER_ORACLE_IP="127.0.0.1",
            KERASTUNER_ORACLE_PORT=port,
        )
        procs[tuner_id] = subprocess.Popen(
            [sys.executable, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=REPO,
        )
    out = {k: p.communicate(timeout=400)[0] for k, p in procs.items()}
    assert procs["tuner0"].returncode == 0, out["tuner0"][-3000:]
    assert procs["chief"].returncode == 0, out["chief"][-3000:]
    assert "Worker done" in out["tuner0"]
    assert "Best trial 0" in out["chief"]
    trial0 = os.path.join(model_dir, "trials", "trial_0")
    result = json.loads(_read(os.path.join(trial0, "result.json")))
    epochs, value = _last_epoch(trial0, "val_maxboxaccv2")
    assert epochs == 1 and value == pytest.approx(result["score"])
    test = json.loads(_read(os.path.join(model_dir, "best_test.json")))
    assert test["trial_id"] == "0"
    assert os.path.exists(os.path.join(model_dir, "best.flags"))


@pytest.mark.parametrize("kind", ["random", "bayesian"])
def test_oracles_sample_inside_the_declared_ranges(tmp_path, kind):
    from wsol_tf.tuning import tuner as tuner_lib

    if kind == "bayesian":
        pytest.importorskip("sklearn")  # in the [tune] / [test] extras

    base = config_lib.ExperimentConfig()
    space = space_lib.default_space("icl", "triplet")
    oracle = tuner_lib.build_oracle(kind, "val_maxboxaccv2", 4, seed=0)
    tuner = tuner_lib.WSOLTuner(oracle, base, space, str(tmp_path))
    for i in range(4):
        trial = tuner.oracle.create_trial(f"tuner{i}")
        config = tuner.trial_config(trial)  # constructing it checks it
        for name, rng in space.items():
            section = space_lib._section(space_lib.owner_of(name))
            value = getattr(getattr(config, section), name)
            if rng.kind == "choice":
                assert value in rng.values
                assert type(value) is type(rng.values[0])
            else:
                assert rng.low <= value <= rng.high
        assert config.train.model_dir == tuner.get_trial_dir(trial.trial_id)
        assert config.data == base.data.replace(
            batch_size=config.data.batch_size
        )


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"model_dir": ""}, ["--model_dir", "required"]),
        ({"epochs": 3, "eval_every_epochs": 2}, ["epochs=3", "eval_every"]),
        ({"eval_every_epochs": 0}, ["eval_every_epochs=0"]),
    ],
)
def test_a_search_needs_a_directory_and_val_at_the_last_epoch(changes, words):
    from wsol_tf.tuning.search import check_base_config

    base = config_lib.ExperimentConfig()
    config = base.replace(
        train=base.train.replace(**{"model_dir": "runs/x", **changes})
    )
    with pytest.raises(ValueError) as e:
        check_base_config(config)
    for word in words:
        assert word in str(e.value)


def test_diverged_runs_fail_their_trials_not_the_search(tmp_path, monkeypatch):
    """A run raising DivergenceError is a FAILED trial; 4 in a row (more
    than KerasTuner's default limit of 3) do not stop the search, and the
    one run that trains is the best trial."""
    from wsol_tf import training
    from wsol_tf.errors import DivergenceError
    from wsol_tf.tuning import results as results_lib
    from wsol_tf.tuning import tuner as tuner_lib

    calls = []

    def fake_run_training(config, verbose="auto"):
        calls.append(config.train.model_dir)
        if len(calls) <= 4:
            raise DivergenceError("loss is nan at epoch 1")
        os.makedirs(config.train.model_dir, exist_ok=True)
        path = os.path.join(config.train.model_dir, "history.csv")
        with open(path, "w") as f:
            f.write("epoch,val_maxboxaccv2\n0,12.5\n")

    monkeypatch.setattr(training, "run_training", fake_run_training)
    base = config_lib.ExperimentConfig().replace(
        train=config_lib.TrainConfig(epochs=1, model_dir=str(tmp_path))
    )
    space = {"learning_rate": space_lib.Range("log", 1e-5, 1.0)}
    oracle = tuner_lib.build_oracle("random", "val_maxboxaccv2", 5, seed=0)
    tuner = tuner_lib.WSOLTuner(oracle, base, space, str(tmp_path), verbose=0)
    tuner.search()
    trials = tuner.oracle.trials.values()
    statuses = sorted(t.status for t in trials)
    assert statuses == ["COMPLETED"] + ["FAILED"] * 4
    assert len(calls) == 5  # no retry of a diverged trial
    rows = results_lib.trial_rows(tuner)
    best = [r for r in rows if r["status"] == "COMPLETED"]
    assert [r["score"] for r in best] == [12.5]
