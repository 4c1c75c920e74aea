"""bench/search_report.py: distances, the default row and the best trial."""

import json
import math

from bench import search_report
from wsol_tf.config import ExperimentConfig


def test_distance_in_decades_range_fractions_and_choices():
    log = {"kind": "log", "low": 0.01, "high": 10.0}
    uni = {"kind": "uniform", "low": 0.0, "high": 0.5}
    choice = {"kind": "choice", "values": [32, 64]}
    assert search_report.distance(log, 1.0, 10.0) == "+1.00 decades"
    assert search_report.distance(log, 0.2, 0.002) == "-2.00 decades"
    assert search_report.distance(uni, 0.1, 0.35) == "+0.50 of the range"
    assert search_report.distance(choice, 32, 32) == "same"
    assert search_report.distance(choice, 32, 64) == "other"


def _write(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)


def test_collect_picks_the_best_completed_trial_and_the_default_row(tmp_path):
    base = ExperimentConfig().to_dict()
    base["model"]["method"] = "icl"
    base["loss"]["contrastive"] = "triplet"
    space = {
        "ca_weight": {"kind": "log", "low": 0.01, "high": 10.0},
        "drop_rate": {"kind": "uniform", "low": 0.0, "high": 1.0},
    }
    _write(
        tmp_path / "search.json",
        {
            "base_config": base,
            "space": space,
            "objective": "val_maxboxaccv2",
            "tuner": "random",
            "executions_per_trial": 1,
        },
    )
    trials = [
        {
            "trial_id": "00",
            "status": "COMPLETED",
            "score": 30.0,
            "seconds": 60.0,
            "values": {"ca_weight": 0.1, "drop_rate": 0.2},
        },
        {
            "trial_id": "01",
            "status": "FAILED",
            "score": None,
            "seconds": None,
            "values": {"ca_weight": 5.0, "drop_rate": 0.9},
        },
        {
            "trial_id": "02",
            "status": "COMPLETED",
            "score": 41.0,
            "seconds": 90.0,
            "values": {"ca_weight": 10.0, "drop_rate": 0.5},
        },
    ]
    _write(tmp_path / "trials.json", trials)
    metrics = {"maxboxaccv2": 38.0, "pxap": 44.0, "top1_cls": 91.0}
    _write(tmp_path / "best_test.json", {"trial_id": "02", "metrics": metrics})
    quality_base = json.loads(json.dumps(base))
    quality_base["train"]["seed"] = 7  # a run setting: not a difference
    runs = [
        {
            "row": "icl_triplet",
            "seed": s,
            "val_maxboxaccv2": 20.0 + s,
            "maxboxaccv2": 25.0 + s,
            "maxboxacc_30": 1,
            "maxboxacc_50": 1,
            "maxboxacc_70": 1,
            "pxap": 40.0,
            "top1_cls": 90.0,
        }
        for s in (0, 1)
    ] + [{"row": "cam", "seed": 0, "val_maxboxaccv2": 99.0}]
    quality = tmp_path / "quality.json"
    _write(quality, {"base": quality_base, "runs": runs})

    result = search_report.collect(str(tmp_path), str(quality), "tune cmd")
    assert result["best"]["trial_id"] == "02"
    by_name = {s["name"]: s for s in result["settings"]}
    default_ca = base["loss"]["ca_weight"]
    assert by_name["ca_weight"]["best"] == 10.0
    assert by_name["ca_weight"]["distance"] == (
        f"{math.log10(10.0 / default_ca):+.2f} decades"
    )
    assert result["defaults"]["row"] == "icl_triplet"
    assert result["defaults"]["regime_differences"] == []
    assert [r["val_maxboxaccv2"] for r in result["defaults"]["runs"]] == [
        20.0,
        21.0,
    ]
    result["meta"] = {}
    text = search_report.markdown(result)
    assert "| 02 | COMPLETED | 41.0 | 1.5 |" in text
    assert "| best trial 02 (seed 0) | 41.0 | 38.0 | 44.0 | 91.0 |" in text
    assert "| defaults, seed 0 (the trials' seed) | 20.0 | 25.0 |" in text
    assert "1 failed" in text
