"""bench/quality_bench.py: row configs, paired differences, tables."""

import pathlib

import pytest

from bench import quality_bench
from wsol_tf.config import ExperimentConfig
from wsol_tf.config import TrainConfig

# Whole training runs or tools in subprocesses.
pytestmark = pytest.mark.integration


def test_row_config_applies_the_row_seed_and_run_settings():
    base = ExperimentConfig(train=TrainConfig(epochs=7, model_dir="x"))
    changes = quality_bench.ABLATIONS["icl_no_ca"][1]
    config = quality_bench.row_config(base, changes, 2, "runs/r")
    assert config.model.method == "icl"
    assert config.loss.ca_weight == 0.0
    assert config.loss.fc_weight == base.loss.fc_weight
    assert (config.train.seed, config.data.seed) == (2, 2)
    assert config.train.model_dir == "runs/r"
    assert config.train.eval_every_epochs == 7  # val once, at the end
    assert not config.train.export and not config.train.visualize


def _run(row, seed, v2, head, bg):
    return {
        "row": row,
        "seed": seed,
        "maxboxaccv2": v2,
        "head_of_object": head,
        "cam_on_background": bg,
    }


def test_summary_pairs_runs_by_seed():
    result = {
        "rows": ["cam", "adl", "icl_triplet"],
        "runs": [
            _run("cam", 0, 40.0, 20.0, 70.0),
            _run("cam", 1, 44.0, 22.0, 60.0),
            _run("adl", 0, 41.0, 18.0, 65.0),
            _run("adl", 1, 47.0, 17.0, 61.0),
            _run("icl_triplet", 1, 50.0, 12.0, 55.0),
            _run("icl_triplet", 0, 43.0, 15.0, 66.0),
        ],
    }
    s = quality_bench.summarize(result)
    # Same-seed differences: seed 0: 43 - 40 = 3, seed 1: 50 - 44 = 6.
    d = s["icl_triplet"]["maxboxaccv2_minus_cam"]
    assert d["mean"] == pytest.approx(4.5) and d["n"] == 2
    assert d["std"] == pytest.approx(2.1213203, rel=1e-6)
    # vs ADL: 43 - 41 = 2, 50 - 47 = 3; head: -3, -5; background: 1, -6.
    icl = s["icl_triplet"]
    assert icl["maxboxaccv2_minus_adl"]["mean"] == pytest.approx(2.5)
    assert icl["head_of_object_minus_adl"]["mean"] == pytest.approx(-4.0)
    assert icl["cam_on_background_minus_adl"]["mean"] == pytest.approx(-2.5)
    assert "maxboxaccv2_minus_cam" not in s["cam"]
    assert s["cam"]["maxboxaccv2"]["mean"] == pytest.approx(42.0)
    result["meta"] = {}
    text = quality_bench.markdown(result)
    assert "| ICL (triplet) |" in text and "+4.5 ± 2.1" in text


def test_ablations_are_paired_with_the_full_icl():
    runs = [
        _run("icl_triplet", 0, 43.0, 15.0, 66.0),
        _run("icl_triplet", 1, 50.0, 12.0, 55.0),
        _run("icl_no_ca", 1, 41.0, 14.0, 60.0),
        _run("icl_no_ca", 0, 40.0, 16.0, 62.0),
        _run("icl_nt_xent", 0, 44.0, 15.0, 66.0),
    ]
    for run, top1 in zip(runs, (90.0, 80.0, 85.0, 70.0, 88.0)):
        run["top1_cls"] = top1
    result = {"rows": ["icl_triplet", "icl_nt_xent", "icl_no_ca"], "runs": runs}
    s = quality_bench.summarize(result)
    # Same seed: 40 - 43 = -3 and 41 - 50 = -9; head +1, +2; top-1 -20, +5.
    no_ca = s["icl_no_ca"]
    assert no_ca["maxboxaccv2_minus_icl_triplet"]["mean"] == pytest.approx(-6)
    assert no_ca["head_of_object_minus_icl_triplet"]["mean"] == pytest.approx(
        1.5
    )
    assert no_ca["top1_cls_minus_icl_triplet"]["mean"] == pytest.approx(-7.5)
    # NT-Xent is a variant, not an ablation: not paired with the triplet.
    assert "maxboxaccv2_minus_icl_triplet" not in s["icl_nt_xent"]
    result["meta"] = {}
    lines = quality_bench.markdown(result).splitlines()
    start = lines.index(
        "Each ablation minus the full ICL (triplet), same seed, mean ± std:"
    )
    assert (
        lines[start + 4]
        == "| ICL, no L_ca | -6.0 ± 4.2 | +1.5 ± 0.7 | -7.5 ± 17.7 |"
    )


def test_pretrain_recipe_entries_replace_fields_with_their_types():
    from wsol_tf.training import pretrain

    recipe = quality_bench.pretrain_recipe(["body_rate=1.0", "steps=500"])
    assert recipe.body_rate == 1.0 and recipe.steps == 500
    assert isinstance(recipe.steps, int)
    # The other fields are the shipped recipe's; a name picks another.
    assert recipe.num_classes == pretrain.SOURCE.num_classes
    assert (
        recipe.replace(body_rate=None, steps=1).replace(
            steps=pretrain.SOURCE.steps, body_rate=pretrain.SOURCE.body_rate
        )
        == pretrain.SOURCE
    )
    old = quality_bench.pretrain_recipe(["heads8", "steps=20"])
    assert old == pretrain.RECIPES["heads8"].replace(steps=20)
    with pytest.raises(ValueError, match="--pretrain_recipe=colour=1"):
        quality_bench.pretrain_recipe(["colour=1"])
    with pytest.raises(ValueError, match="steps expects a int"):
        quality_bench.pretrain_recipe(["steps=many"])


def test_compare_markdown_lists_every_run_with_its_recipe():
    base = {"train": {"epochs": 20, "learning_rate": 0.001}}
    runs = [
        {"row": "icl_triplet", "seed": 1, "maxboxaccv2": 40.06},
        {"row": "cam", "seed": 0, "maxboxaccv2": 30.2},
    ]
    text = quality_bench.compare_markdown(
        [
            (
                "a/x.json",
                {
                    "base": base,
                    "runs": runs,
                    "pretrain_recipe": ["body_rate=1.0"],
                },
            ),
            ("y.json", {"base": {"train": {"epochs": 40}}, "runs": runs[1:]}),
            (
                "z.json",
                {
                    "base": {
                        "train": {"epochs": 20},
                        "model": {"weights": "/p/resnet50_abc.weights.h5"},
                    },
                    "runs": runs[1:],
                },
            ),
        ]
    )
    lines = text.splitlines()
    assert len(lines) == 2 + 4
    assert lines[2].startswith(
        "| x.json | body_rate=1.0 | 0.001 | 20 | - | CAM | 0 |"
    )
    assert "| ICL (triplet) | 1 |" in lines[3] and "| 40.1 |" in lines[3]
    assert lines[4].startswith("| y.json | default | n/a | 40 | - | CAM | 0 |")
    # Without --pretrain_recipe, the weights file the runs started from.
    assert lines[5].startswith(
        "| z.json | resnet50_abc.weights.h5 | n/a | 20 |"
    )


def test_differing_settings_names_what_changed_between_results():
    a = {
        "train": {"epochs": 20, "weight_decay": 1e-4, "model_dir": "a"},
        "data": {"data_root": "/x", "synthetic_train_per_class": 64},
    }
    b = {
        "train": {"epochs": 5, "weight_decay": 1e-4, "model_dir": "b"},
        "data": {"data_root": "/y", "synthetic_train_per_class": 256},
    }
    c = {
        "train": {"epochs": 20, "weight_decay": 5e-4, "model_dir": "c"},
        "data": {"data_root": "/x", "synthetic_train_per_class": 64},
    }
    assert quality_bench.differing_settings([a, b, c]) == [
        "synthetic_train_per_class=64, weight_decay=0.0001",
        "synthetic_train_per_class=256, weight_decay=0.0001",
        "synthetic_train_per_class=64, weight_decay=0.0005",
    ]
    assert quality_bench.differing_settings([a, a]) == ["-", "-"]


def _result():
    return {
        "meta": {},
        "base": {"train": {"epochs": 20}},
        "rows": ["cam"],
        "runs": [{"row": "cam", "seed": 0, "maxboxaccv2": 30.2}],
    }


@pytest.mark.parametrize("inside", [True, False])
def test_tables_replace_readme_sections_only_for_results_in_bench_results(
    tmp_path, monkeypatch, inside
):
    from bench import make_tables

    results = tmp_path / "results"
    results.mkdir()
    readmes = [tmp_path / "bench_README.md", tmp_path / "README.md"]
    old = "x\n<!-- BEGIN quality -->\nold table\n<!-- END quality -->\ny\n"
    for readme in readmes:
        readme.write_text(old)
    monkeypatch.setattr(make_tables, "RESULTS_DIR", str(results))
    monkeypatch.setattr(make_tables, "README", str(readmes[0]))
    monkeypatch.setattr(make_tables, "TOP_README", str(readmes[1]))
    monkeypatch.setattr(quality_bench, "markdown", lambda result: "new table")
    output = (results if inside else tmp_path) / "q.json"

    quality_bench._write_tables(_result(), str(output))

    # The .md beside the JSON is always written; the READMEs only when the
    # JSON is where their "Generated from bench/results/..." line points.
    assert (output.parent / "q.md").read_text().startswith("new table")
    for readme in readmes:
        text = readme.read_text()
        assert ("new table" in text) == inside
        assert ("old table" in text) == (not inside)


def test_reevaluate_rescores_each_run_from_its_last_checkpoint(tmp_path):
    from tool_runner import smoke_config  # noqa: I001 (tests/)

    from wsol_tf import training

    runs_dir = tmp_path / "runs"
    config = smoke_config(
        tmp_path,
        f"--model_dir={runs_dir / 'cam_seed0'}",
        "--method=cam",
        "--novisualize",
        "--noexport",
    )
    model, history, final = training.run_training(config, verbose=0)
    stale = {"maxboxaccv2": -1.0, "top1_cls": -1.0, "pxap": -1.0}
    result = {
        "base": {"train": {"epochs": 2}},
        "rows": ["cam"],
        "runs": [{"row": "cam", "seed": 0, "seconds": 12.5, **stale}],
    }

    quality_bench.reevaluate(result, str(runs_dir))

    run = result["runs"][0]
    # The run's own final report (float32, the in-memory model) is what a
    # re-score of its last checkpoint must give.
    for key in ("maxboxaccv2", "maxboxacc_50", "top1_cls", "pxap"):
        assert run[key] == pytest.approx(final[key], abs=1e-6), key
    assert run["seconds"] == 12.5  # training time kept
    assert 0 <= run["head_of_object"] <= 100
    assert run["cam_on_object"] + run["cam_on_background"] == pytest.approx(100)
    # Val re-scored from the checkpoint: what the last epoch's val gave.
    for key in ("val_maxboxaccv2", "val_top1_cls"):
        assert run[key] == pytest.approx(history.history[key][-1]), key
    assert result["reevaluated"]["trained_in"] == ["float32"]
    assert result["summary"]["cam"]["maxboxaccv2"]["mean"] == pytest.approx(
        final["maxboxaccv2"]
    )

    # On a larger test split of the same set: the run's model scored on a
    # set written by the generator itself with 3 test images per class.
    from wsol_tf.data import build_dataset
    from wsol_tf.data import synthetic
    from wsol_tf.evaluation.runner import evaluate_model

    quality_bench.reevaluate(result, str(runs_dir), test_per_class=3)

    with open(runs_dir / "cam_seed0" / "config.json") as f:
        data = ExperimentConfig.from_json(f.read()).data  # resolved
    root = synthetic.generate_synthetic_dataset(
        tmp_path / "t3",
        num_classes=data.synthetic_num_classes,
        train_per_class=data.synthetic_train_per_class,
        val_per_class=data.synthetic_val_per_class,
        test_per_class=3,
        image_size=data.synthetic_image_size,
        seed=data.synthetic_seed,
    )
    train = sorted((tmp_path / "t3" / "images" / "train").rglob("*.jpg"))
    old = pathlib.Path(data.data_root, "images", "train")
    assert [p.relative_to(tmp_path / "t3") for p in train] == [
        p.relative_to(data.data_root) for p in sorted(old.rglob("*.jpg"))
    ]
    for path in train:  # the run's training images, byte for byte
        twin = pathlib.Path(data.data_root, path.relative_to(tmp_path / "t3"))
        assert path.read_bytes() == twin.read_bytes()
    t3 = data.replace(
        data_root=root,
        metadata_root=str(pathlib.Path(root, synthetic.BOXES_DIR)),
        mask_metadata_root=str(pathlib.Path(root, synthetic.MASKS_DIR)),
    )
    expected = evaluate_model(
        model.as_float32(),
        build_dataset(t3, t3.test_split, training=False),
        config.eval,
    )
    run = result["runs"][0]
    assert expected["num_images"] == 3 * data.synthetic_num_classes
    for key in ("maxboxaccv2", "maxboxacc_50", "top1_cls", "pxap"):
        assert run[key] == pytest.approx(expected[key], abs=1e-6), key
    assert result["dataset"]["center_gaussian"]["num_images"] == 6
    assert result["reevaluated"]["test_per_class"] == 3


def test_reevaluate_names_a_run_missing_from_the_runs_dir(tmp_path):
    result = {"runs": [{"row": "adl", "seed": 1, "maxboxaccv2": 20.0}]}
    missing = tmp_path / "adl_seed1" / "config.json"
    with pytest.raises(ValueError) as info:
        quality_bench.reevaluate(result, str(tmp_path))
    message = str(info.value)
    assert str(missing) in message and "run adl seed 1" in message
    assert f"--runs_dir={tmp_path}" in message and "\n" not in message
