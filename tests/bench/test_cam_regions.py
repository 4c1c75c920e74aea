"""bench/cam_regions.py: region codes from the generator's draws,
hand-drawn maps, and maps built from the written part masks."""

import numpy as np
import pytest
from cam_helpers import MapModel  # tests/
from cam_helpers import tiny_synthetic
from cam_helpers import written_parts

from bench import cam_regions
from bench.cam_regions import BACKGROUND
from bench.cam_regions import CLUTTER
from bench.cam_regions import GROUND_OTHER
from bench.cam_regions import GROUND_OWN
from bench.cam_regions import HEAD
from bench.cam_regions import OTHER
from bench.cam_regions import OWN
from wsol_tf.config import EvalConfig
from wsol_tf.data import build_dataset
from wsol_tf.data.synthetic import render_birds_image

SIZE = 48


@pytest.mark.parametrize("rate, code", [(1.0, OWN), (0.0, OTHER)])
def test_region_map_follows_the_plumage_draws(rate, code):
    # body_rate 1: every larger part shows the class's own plumage; 0: none.
    # context_rate 1: the ground band is always the class's own kind.
    for index in range(4):
        ex = render_birds_image(
            0,
            "test",
            index,
            index % 4,
            num_classes=4,
            image_size=64,
            body_rate=rate,
            context_rate=rate,
        )
        regions = cam_regions.region_map(ex, index % 4)
        labels = ex.part_labels.max(0)
        assert ((regions == HEAD) == (labels == 1)).all()
        assert (regions[np.isin(labels, (2, 3, 4))] == code).all()
        background = regions[labels == 0]
        painted = ex.background_labels[labels == 0]
        assert (background[painted == 0] == BACKGROUND).all()
        assert (background[painted == 2] == CLUTTER).all()
        ground = background[painted == 1]
        if rate == 1.0:
            assert ground.size and (ground == GROUND_OWN).all()
        else:  # a random kind: own or not, one code for the whole band
            assert len(set(ground)) == 1
            assert ground[0] in (GROUND_OWN, GROUND_OTHER)


def _hand_drawn():
    regions = np.zeros((20, 20), np.uint8)
    regions[8:12, 4:8] = OWN
    regions[8:12, 8:12] = OTHER
    regions[8:12, 12:16] = HEAD
    scoremap = np.zeros((20, 20))
    scoremap[regions == HEAD] = 1.0
    scoremap[regions == OWN] = 0.5
    scoremap[regions == OTHER] = 0.2
    regions[0:2, 0:2] = CLUTTER  # 4 background pixels, far from the object
    scoremap[0:2, 0:2] = 0.6
    return scoremap, regions


def test_region_stats_on_a_hand_drawn_map():
    scoremap, regions = _hand_drawn()
    background = 400 - 48
    stats = cam_regions.region_stats(scoremap, regions, near_px=2)
    assert stats["head"] == pytest.approx(1.0)
    assert stats["own"] == pytest.approx(0.5)
    assert stats["other"] == pytest.approx(0.2)
    assert stats["background"] == pytest.approx(4 * 0.6 / background)
    assert stats["near"] == 0.0  # the bright patch is far
    assert stats["far"] > stats["background"]
    # Only the 4 patch pixels score above the own-plumage mean 0.5.
    assert stats["background_above_own"] == pytest.approx(4 / background)
    assert stats["clutter"] == pytest.approx(0.6)
    assert stats["clutter_above_own"] == 1.0
    assert stats["field"] == 0.0 and stats["field_above_own"] == 0.0
    assert "ground_own" not in stats and "ground_other_above_own" not in stats
    # No background pixel is within 0 px of the object: all of it is far.
    stats = cam_regions.region_stats(scoremap, regions, near_px=0)
    assert "near" not in stats
    assert stats["far"] == pytest.approx(stats["background"])


def test_cap_background_caps_only_the_background():
    scoremap, regions = _hand_drawn()
    capped = cam_regions.cap_background(scoremap, regions)
    object_ = ~cam_regions.is_background(regions)
    assert object_.sum() == 48
    assert (capped[object_] == scoremap[object_]).all()
    # The background's median is 0: the bright patch goes, nothing rises.
    assert (capped[~object_] == 0.0).all()
    # Far only: a patch near the object stays.
    scoremap[7, 8] = 0.9
    capped = cam_regions.cap_background(scoremap, regions, near_px=2)
    assert capped[7, 8] == 0.9 and capped[0, 0] == 0.0


def test_evidence_map_values():
    _, regions = _hand_drawn()
    got = cam_regions.evidence_map(regions, 0.3, -0.3)
    assert set(np.unique(got[regions == OWN])) == {0.3}
    assert set(np.unique(got[regions == OTHER])) == {-0.3}
    assert set(np.unique(got[regions == HEAD])) == {1.0}
    assert set(np.unique(got[regions == BACKGROUND])) == {0.0}
    assert set(np.unique(got[regions == CLUTTER])) == {0.0}


@pytest.fixture(scope="module")
def birds(tmp_path_factory):
    return tiny_synthetic(
        tmp_path_factory.mktemp("cache"), SIZE, test_per_class=3
    )


def test_run_regions_on_maps_from_the_written_part_masks(birds):
    parts = written_parts(birds, SIZE)
    assert len(parts) == 6
    # Head 1, every larger part 0.5 (either plumage), background 0.
    maps = [np.where(p == 1, 1.0, np.where(p > 0, 0.5, 0.0)) for p in parts]
    got = cam_regions.run_regions(
        MapModel(maps), birds, EvalConfig(), near_px=4
    )
    regions = got["regions"]
    assert regions["head"] == pytest.approx(100.0, abs=1e-3)
    assert regions["background"] == pytest.approx(0.0, abs=1e-3)
    assert regions["background_above_own"] == 0.0
    for key in ("own", "other"):
        if key in regions:  # a 6-image set may draw no other plumage
            assert regions[key] == pytest.approx(50.0, abs=1e-3)
    assert got["feature_size"] == SIZE
    # A silent background: capping it changes nothing.
    scores = got["maxboxaccv2"]
    assert scores["as_is"] == scores["background_capped"]
    assert scores["as_is"] == scores["far_background_capped"]


def test_evidence_ceiling_of_a_uniform_object_map_is_100(birds):
    # own = other = head = 1: the object mask; at the evaluation size its
    # box at any threshold is the object's box.
    (row,) = cam_regions.evidence_ceiling(
        birds, EvalConfig(), SIZE, weights=((1.0, 1.0),)
    )
    assert row["mean"] == pytest.approx(100.0)
    # The head alone, at a coarse CAM resolution (stride 16: 8 x 8 at
    # 128 px, here 3 x 3 at 48), finds boxes far smaller than the objects'.
    (row,) = cam_regions.evidence_ceiling(
        birds, EvalConfig(), 3, weights=((0.0, 0.0),)
    )
    assert row["iou70"] == 0.0


def _run(name, head, as_is):
    box = dict(iou30=0.0, iou50=0.0, iou70=0.0, mean=as_is)
    return dict(
        name=name,
        feature_size=8,
        regions=dict(head=head, own=30.0, background_above_own=10.0),
        maxboxaccv2=dict(
            as_is=box, far_background_capped=box, background_capped=box
        ),
    )


def test_markdown_groups_the_seeds_of_a_row():
    assert cam_regions.row_name("icl_triplet_seed12") == "icl_triplet"
    assert cam_regions.row_name("synthetic_resnet50_icl") == (
        "synthetic_resnet50_icl"
    )
    result = dict(
        meta=dict(command="x"),
        near_px=8,
        runs=[_run("cam_seed0", 70.0, 20.0), _run("cam_seed1", 80.0, 30.0)],
        evidence_ceiling=[
            dict(own=0.3, other=0.0, iou30=90, iou50=80, iou70=70, mean=80)
        ],
    )
    text = cam_regions.markdown(result)
    # mean ± sample std over the two seeds: 75 ± 7.1 and 25 ± 7.1.
    assert "| cam (2) | 75.0 ± 7.1 | 30.0 ± 0.0 | n/a |" in text
    assert "| 25.0 ± 7.1 | 25.0 ± 7.1 | 25.0 ± 7.1 |" in text
    assert "| 0.3 | 0 | 90.0 | 80.0 | 70.0 | 80.0 |" in text
    assert "Command: `x`" in text
    assert "colour field" not in text  # results before the kinds existed
    for run, field in zip(result["runs"], (0.1, 0.3)):
        run["regions"].update(field=field, field_above_own=field / 2)
    text = cam_regions.markdown(result)
    assert "| cam (2) | 0.2 ± 0.1 | 0.1 ± 0.1 | n/a | n/a |" in text
    for run, seed in zip(result["runs"], (0, 1)):
        run["model_dir"] = f"/r/cam_seed{seed}"
    command = "python bench/cam_regions.py --runs=/r/cam_seed0,/r/cam_seed1"
    assert cam_regions.short_command(command, result) == (
        "python bench/cam_regions.py --runs=<2 runs in /r>"
    )


def test_readme_tables_only_from_bench_results(tmp_path):
    from absl import app

    path = tmp_path / "cam_regions.json"
    path.write_text("{}")
    with pytest.raises(app.UsageError, match="bench/results"):
        cam_regions.write_readme(str(path), "cam_regions")


class _Classifier(MapModel):
    """MapModel with logits that classify every image right."""

    def compute_cams(self, images, class_ids):
        _, cams = super().compute_cams(images, class_ids)
        return np.eye(2)[np.asarray(class_ids)], cams


def test_as_is_score_is_the_protocols_maxboxaccv2(birds):
    # Noisy maps: the tool's "as is" MaxBoxAccV2 must be what the run's
    # report computes (evaluate_model with the run's EvalConfig).
    from wsol_tf.evaluation.runner import evaluate_model

    rng = np.random.default_rng(0)
    parts = written_parts(birds, SIZE)
    maps = [(p > 0) + rng.uniform(0, 3, p.shape) for p in parts]
    config = EvalConfig()
    got = cam_regions.run_regions(MapModel(maps), birds, config, near_px=4)
    want = evaluate_model(
        _Classifier(maps), build_dataset(birds, "test", training=False), config
    )
    assert got["maxboxaccv2"]["as_is"]["mean"] == pytest.approx(
        want["maxboxaccv2"]
    )
    assert 0 < want["maxboxaccv2"] < 100  # the noise matters


def test_a_set_without_plumage_draws_is_refused_in_one_line(tmp_path):
    heads = tiny_synthetic(
        tmp_path, SIZE, test_per_class=1, name="synthetic_heads"
    )
    with pytest.raises(ValueError, match="needs the 'birds' set") as info:
        cam_regions.run_regions(MapModel([]), heads, EvalConfig(), 8)
    assert "\n" not in str(info.value)
