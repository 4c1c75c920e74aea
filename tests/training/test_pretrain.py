"""weights="synthetic": the cached pretraining stage (tiny recipe)."""

import json
import os

import h5py
import numpy as np
import pytest

from wsol_tf.backbones import required_normalization
from wsol_tf.backbones import weights_file
from wsol_tf.config import DataConfig
from wsol_tf.config import ExperimentConfig
from wsol_tf.config import ModelConfig
from wsol_tf.config import TrainConfig
from wsol_tf.models import build_model
from wsol_tf.training import pretrain
from wsol_tf.training import resolve_experiment

TINY = pretrain.PretrainRecipe(
    num_classes=2, class_offset=4, train_per_class=2, steps=2, batch_size=2
)


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    data = DataConfig(
        cache_dir=str(tmp_path_factory.mktemp("cache")),
        image_size=32,
        resize_size=36,
        eval_image_size=32,
        eval_batch_size=8,
        synthetic_num_classes=2,
        synthetic_train_per_class=2,
        synthetic_val_per_class=1,
        synthetic_test_per_class=1,
        synthetic_image_size=64,
    )
    model = ModelConfig(
        architecture="resnet50", method="icl", width_multiplier=0.125
    )
    return model, data


def test_trains_once_caches_and_loads_into_the_target(configs):
    model_config, data = configs
    path = pretrain.ensure_synthetic_weights(
        model_config, data, precision="float32", recipe=TINY, verbose=False
    )
    assert path == pretrain.weights_path(model_config, data, TINY)
    assert os.path.isfile(path)
    assert not [n for n in os.listdir(os.path.dirname(path)) if ".tmp" in n]
    metadata = weights_file.read_metadata(path)
    assert metadata["layout"] == "keras"
    assert metadata["normalization"] == "imagenet"
    assert required_normalization("resnet50", path) == "imagenet"
    # The source set: generator classes 4-5, not the target's 0-1.
    source = [
        d for d in os.listdir(data.cache_dir) if d.startswith("synthetic_")
    ]
    offsets = []
    for d in source:
        with open(os.path.join(data.cache_dir, d, "synthetic.json")) as f:
            offsets.append(json.load(f).get("class_offset", 0))
    assert offsets == [4]
    # Cached: a second call returns the same file without training.
    mtime = os.path.getmtime(path)
    again = pretrain.ensure_synthetic_weights(
        model_config, data, precision="float32", recipe=TINY, verbose=False
    )
    assert again == path and os.path.getmtime(path) == mtime
    # The target model gets the pretrained backbone, not the classifier.
    target = build_model(
        model_config.replace(num_classes=2, weights=path), image_size=32
    )
    with h5py.File(path, "r") as f:
        stem = f["layers"]["conv1_conv"]["0"][()]
        source_fc = f["layers"]["fc"]["0"][()]
    np.testing.assert_array_equal(
        target.network.get_layer("conv1_conv").get_weights()[0], stem
    )
    assert source_fc.shape[-1] == 2  # the source's own 2 classes
    fc = target.network.get_layer("fc").get_weights()[0]
    assert not np.array_equal(fc, source_fc)


def test_cache_key_follows_what_changes_the_weights(configs):
    model_config, data = configs
    base = pretrain.weights_path(model_config, data, TINY)
    assert base == pretrain.weights_path(
        model_config.replace(method="cam", bg_threshold=0.3), data, TINY
    )
    for other in (
        pretrain.weights_path(
            model_config.replace(width_multiplier=0.25), data, TINY
        ),
        pretrain.weights_path(
            model_config, data.replace(image_size=36, resize_size=40), TINY
        ),
        pretrain.weights_path(
            model_config, data, pretrain.PretrainRecipe(steps=3)
        ),
    ):
        assert other != base


def test_one_file_serves_both_feature_map_sizes(configs):
    """The stand-in is pretrained at the standard strides and loaded into
    the stride-8 variant unchanged (strides change no weight's shape), as
    ImageNet weights are: same cache path, and a target with
    `large_feature_map` gets the file's weights and a CAM of twice the
    side (resnet50 at 32 px: 2 x 2 -> 4 x 4)."""
    from wsol_tf.backbones import feature_map_size

    model_config, data = configs
    large = model_config.replace(large_feature_map=True)
    path = pretrain.weights_path(model_config, data, TINY)
    assert pretrain.weights_path(large, data, TINY) == path
    assert pretrain.weights_key(large, data, TINY)["large_feature_map"] is (
        False
    )
    source = pretrain.build_source_model(large, data, TINY)
    images = np.zeros((1, 32, 32, 3), "float32")
    _, cams = source.compute_cams(images, [0])
    assert np.asarray(cams).shape[1:3] == (2, 2)  # the source: stride 16
    path = pretrain.ensure_synthetic_weights(
        large, data, precision="float32", recipe=TINY, verbose=False
    )
    target = build_model(
        large.replace(num_classes=2, weights=path), image_size=32
    )
    with h5py.File(path, "r") as f:
        conv = f["layers"]["conv4_block1_1_conv"]["0"][()]
    np.testing.assert_array_equal(
        target.network.get_layer("conv4_block1_1_conv").get_weights()[0], conv
    )
    _, cams = target.compute_cams(images, [0])
    side = feature_map_size("resnet50", 32, large_feature_map=True)
    assert side == 4 and np.asarray(cams).shape[1:3] == (side, side)


def test_resolve_experiment_swaps_synthetic_for_the_cached_file(
    configs, monkeypatch, tmp_path
):
    model_config, data = configs
    calls = []
    cached = str(tmp_path / "x.weights.h5")
    weights_file.save_weights_file(
        cached,
        {},
        architecture="resnet50",
        layout="keras",
        normalization="imagenet",
    )

    def fake(model, data_config, precision, **kwargs):
        calls.append((model.weights, precision))
        return cached

    monkeypatch.setattr(pretrain, "ensure_synthetic_weights", fake)
    config = ExperimentConfig(
        data=data,
        model=model_config.replace(weights="synthetic"),
        train=TrainConfig(precision="float32"),
    )
    resolved = resolve_experiment(config)
    assert resolved.model.weights == cached
    assert resolved.data.normalization == "imagenet"  # the file's, "auto"
    assert calls == [("synthetic", "float32")]
    # Idempotent: a resolved config is not pretrained again.
    assert resolve_experiment(resolved).model.weights == resolved.model.weights
    assert len(calls) == 1


def test_source_body_rate_reaches_the_source_set_and_the_key(configs):
    """recipe.body_rate is the source's synthetic_body_rate; unset, the
    key is the one computed before the field existed (sha1 of the key
    without it), so caches of the default recipe stay valid."""
    import dataclasses
    import hashlib

    model_config, data = configs
    source = pretrain._source_data_config(
        data, dataclasses.replace(TINY, body_rate=1.0)
    )
    assert source.synthetic_body_rate == 1.0
    assert pretrain._source_data_config(data, TINY).synthetic_body_rate is None
    assert pretrain.weights_path(
        model_config, data, dataclasses.replace(TINY, body_rate=1.0)
    ) != pretrain.weights_path(model_config, data, TINY)
    old_recipe = {
        k: v for k, v in dataclasses.asdict(TINY).items() if v is not None
    }
    key = {
        "format": pretrain.FORMAT,
        "architecture": "resnet50",
        "width_multiplier": 0.125,
        "large_feature_map": False,
        "image_size": 32,
        "resize_size": 36,
        "normalization": pretrain.NORMALIZATION,
        "synthetic_image_size": 64,
        "recipe": old_recipe,
    }
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()
    assert pretrain.weights_path(model_config, data, TINY).endswith(
        f"_{digest[:10]}.weights.h5"
    )


def test_a_recipe_names_the_evidence_kind_of_its_source_classes():
    # balanced20: kind (class + class // 6) % 3, written out for 4..9;
    # mixed20: class % 3; heads8 (fields unset): every class by its head.
    balanced = [
        pretrain.RECIPES["balanced20"].evidence_kind(k) for k in range(4, 10)
    ]
    assert balanced == ["plumage", "both", "plumage", "both", "part", "plumage"]
    mixed = [pretrain.RECIPES["mixed20"].evidence_kind(k) for k in range(4, 10)]
    assert mixed == ["plumage", "both", "part", "plumage", "both", "part"]
    assert pretrain.RECIPES["heads8"].evidence_kind(5) == "part"
