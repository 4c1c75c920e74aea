"""WSOLModel: every backbone x method builds, trains one step, saves."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_case import run_model_test  # tests/

from wsol_tf import optimizers
from wsol_tf.config import LossConfig
from wsol_tf.config import ModelConfig
from wsol_tf.config import TrainConfig
from wsol_tf.layers import AttentionDropout
from wsol_tf.layers import ICLAttentionBlock
from wsol_tf.models import WSOLModel
from wsol_tf.models import WSOLObjective
from wsol_tf.models import build_model
from wsol_tf.models import network
from wsol_tf.settings import setting

ARCHS = ("vgg16", "resnet50", "inceptionv3")
METHODS = ("cam", "adl", "icl")
SIZES = {"vgg16": 64, "resnet50": 64, "inceptionv3": 96}
# spec 1.1 at 224 px: (position, side, channels), early -> last.
SPEC_224 = {
    "vgg16": [("pool3", 28, 256), ("pool4", 14, 512), ("conv5_3", 14, 512)],
    "resnet50": [
        ("layer3_0", 14, 1024),
        ("layer4_0", 14, 2048),
        ("layer4_2", 14, 2048),
    ],
    "inceptionv3": [
        ("mixed_5d", 28, 288),
        ("mixed_6e", 14, 768),
        ("A3_2b", 14, 1024),
    ],
}
FEATURES_224 = {"vgg16": 1024, "resnet50": 2048, "inceptionv3": 1024}
CLASSIFIER = {"vgg16": "fc", "resnet50": "fc", "inceptionv3": "SPG_A4"}
# Thresholds that give non-empty fg / bg / dfg masks on the flat attention
# maps of randomly initialised networks, so that L_ca is exercised.
ICL_TEST_ARGS = dict(bg_threshold=0.8, drop_threshold=0.95)


def _data(size, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(batch, size, size, 3)).astype("float32")
    return images, np.arange(batch, dtype="int32") % 3


def _model(arch, method, size=None, **kwargs):
    if method == "icl":
        kwargs = {**ICL_TEST_ARGS, **kwargs}
    config = ModelConfig(
        architecture=arch, method=method, num_classes=3, **kwargs
    )
    return WSOLModel(config, size or SIZES[arch], seed=0)


def _sgd():
    return keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True)


def _attention_layers(model):
    return [
        layer
        for layer in model.network.layers
        if layer.name.startswith("attention_")
    ]


# The slowest baselines run with --run_large; ICL runs on every backbone.
SLOW = {("inceptionv3", "cam"), ("inceptionv3", "adl"), ("resnet50", "cam")}
STEP_CASES = [
    pytest.param(a, m, marks=[pytest.mark.large] if (a, m) in SLOW else [])
    for m in METHODS
    for a in ARCHS
]


@pytest.mark.parametrize("arch,method", STEP_CASES)
def test_build_and_one_training_step(arch, method):
    model = _model(arch, method)
    layers = _attention_layers(model)
    if method == "cam":
        assert layers == []
    else:
        names = [f"attention_{p}" for p, _, _ in SPEC_224[arch]]
        if (arch, method) == ("vgg16", "adl"):
            # wsolevaluation's ADL sits before pool4 (ICL's block after it).
            names[1] = "attention_conv4_3"
        assert [layer.name for layer in layers] == names
        kind = AttentionDropout if method == "adl" else ICLAttentionBlock
        assert all(type(layer) is kind for layer in layers)
    model.compile(optimizer=_sgd(), run_eagerly=True)
    classifier = model.network.get_layer(CLASSIFIER[arch])
    first_conv = next(
        layer for layer in model.network.layers if hasattr(layer, "kernel")
    )
    watched = [classifier.kernel, first_conv.kernel]
    if method == "icl":
        for layer in layers:
            watched += [layer.non_local.w_bn.gamma, layer.non_local.w_bn.beta]
    before = [v.numpy().copy() for v in watched]
    images, labels = _data(SIZES[arch])
    logs = model.train_on_batch(images, labels, return_dict=True)
    expected = {"total_loss", "cls_loss", "accuracy"}
    if method == "icl":
        expected |= {"ca_loss", "fc_loss", "valid_fraction"}
    assert set(logs) == expected
    assert all(np.isfinite(v) for v in logs.values())
    if method == "icl":
        total = logs["cls_loss"] + logs["ca_loss"] + logs["fc_loss"]
        np.testing.assert_allclose(logs["total_loss"], total, rtol=1e-5)
    for variable, old in zip(watched, before):
        # Gradients reached every watched variable (incl. the non-local
        # blocks' W / BN: theta, phi, g get none while gamma is 0).
        assert np.abs(variable.numpy() - old).max() > 0, variable.path
    outputs = model.predict_on_batch(images)
    side = 4 if arch != "inceptionv3" else 6  # 64 / 16; 96 px Inception
    assert outputs["cams"].shape == (2, side, side, 3)
    assert outputs["logits"].shape == (2, 3)


@pytest.mark.parametrize("method", METHODS)
def test_model_contract(tmp_path, method):
    # The small VGG16: save / load, symbolic and eager calls, a compiled
    # fit step and the three policies.
    kwargs = ICL_TEST_ARGS if method == "icl" else {}
    config = ModelConfig(
        architecture="vgg16",
        method=method,
        num_classes=3,
        width_multiplier=0.125,
        **kwargs,
    )
    images, labels = _data(32)
    model = run_model_test(
        lambda: WSOLModel(config, 32, seed=0), images, labels, tmp_path
    )
    saved = dict(config.to_dict())
    saved.pop("weights")  # the saved model carries its own
    assert model.get_config()["config"] == saved


@pytest.mark.parametrize("arch", ARCHS)
def test_block_positions_and_sizes_at_224(arch):
    model = WSOLModel(
        ModelConfig(architecture=arch, method="icl", num_classes=5), 224
    )
    for position, side, channels in SPEC_224[arch]:
        layer = model.network.get_layer(f"attention_{position}")
        assert tuple(layer.input.shape) == (None, side, side, channels)
        attention = model.network.output[f"attention_{position}"]
        assert tuple(attention.shape) == (None, side, side, 1)
    cams = model.compute_output_spec(keras.KerasTensor((1, 224, 224, 3)))
    assert tuple(cams["cams"].shape) == (1, 14, 14, 5)
    if arch == "inceptionv3":
        assert model.network.get_layer("SPG_A4").input.shape[-1] == 1024
    else:
        assert (
            model.network.output["features"].shape[-1] == (FEATURES_224[arch])
        )
    # Learning-rate groups (spec 3): attention layers in ResNet's layer4 and
    # all of Inception's are "new" layers (x ratio), VGG's are features.
    multipliers = optimizers.learning_rate_multipliers(model, 10.0)
    ratios = [
        multipliers[layer.trainable_variables[0].path]
        for layer in _attention_layers(model)
    ]
    expected = {
        "vgg16": [1.0, 1.0, 1.0],
        "resnet50": [1.0, 10.0, 10.0],
        "inceptionv3": [10.0, 10.0, 10.0],
    }
    assert ratios == expected[arch]
    classifier = model.network.get_layer(CLASSIFIER[arch])
    assert multipliers[classifier.kernel.path] == 10.0


@pytest.mark.parametrize("arch", ["vgg16", "inceptionv3"])
def test_cams_equal_weighted_channel_sum(arch):
    model = _model(arch, "icl", size=96 if arch == "inceptionv3" else 32)
    images, labels = _data(model.image_size, batch=2)
    classifier = model.network.get_layer(CLASSIFIER[arch])
    # The map the CAM is read from: the GAP input (VGG) / SPG_A4's input.
    reader = "SPG_A4" if arch == "inceptionv3" else "gap"
    probe = keras.Model(
        model.network.input, model.network.get_layer(reader).input
    )
    features = np.asarray(probe(images), "float64")
    kernel = np.asarray(classifier.kernel, "float64").reshape(
        features.shape[-1], 3
    )
    if arch == "inceptionv3":  # channel y of the 1x1 conv SPG_A4
        bias = np.asarray(classifier.bias, "float64")
        expected = np.einsum("bhwc,ck->bhwk", features, kernel) + bias
    else:  # mean_c(w[c, y] * F_c) on the GAP input
        expected = np.einsum("bhwc,ck->bhwk", features, kernel)
        expected /= features.shape[-1]
    logits, cams = model.compute_cams(images, labels)
    for b in range(2):
        np.testing.assert_allclose(
            cams[b], expected[b, ..., labels[b]], rtol=1e-4, atol=1e-6
        )
    top1 = np.argmax(np.asarray(logits), -1)
    _, cams_top1 = tf.function(model.compute_cams)(tf.constant(images))
    for b in range(2):
        np.testing.assert_allclose(
            cams_top1[b], expected[b, ..., top1[b]], rtol=1e-4, atol=1e-6
        )


def test_non_local_gradients_reach_theta_phi_g():
    # With W's BN gamma at its zero init, theta/phi/g get exactly zero
    # gradient at step 0 (z = x + 0 * ...); set gamma = 1 to see them.
    # 64 px: every position keeps >= 4 keys after the 2x2 sub-sampling (a
    # single key makes the softmax constant, hence theta's gradient 0).
    model = _model("vgg16", "icl", size=64, drop_rate=0.0)
    for layer in _attention_layers(model):
        layer.non_local.w_bn.gamma.assign(
            np.ones(layer.non_local.w_bn.gamma.shape)
        )
    images, labels = _data(64)
    variables = [
        getattr(layer.non_local, name).kernel
        for layer in _attention_layers(model)
        for name in ("theta", "phi", "g", "w_conv")
    ]
    objective = WSOLObjective.for_model(model.model_config)
    with tf.GradientTape() as tape:
        outputs = model.network(images, training=True)
        total = objective(outputs, labels)["total_loss"]
    grads = tape.gradient(total, variables)
    for grad, variable in zip(grads, variables):
        assert np.abs(grad.numpy()).max() > 0, variable.path


def test_lr_ratio_and_coupled_weight_decay_update():
    model = _model("vgg16", "cam", size=32)
    lr = 0.5
    optimizer = optimizers.SGD(
        lr,
        momentum=0.0,
        nesterov=False,
        weight_decay=0.1,
        lr_multipliers=optimizers.learning_rate_multipliers(model, 10.0),
    )
    model.compile(optimizer=optimizer, run_eagerly=True)
    images, labels = _data(32)
    names = ("block1_conv1", "conv6", "fc")
    variables = [model.network.get_layer(n).kernel for n in names]
    before = [v.numpy().copy() for v in variables]
    with tf.GradientTape() as tape:
        logits = model.network(images, training=True)["logits"]
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        loss = tf.reduce_mean(ce)
    grads = [g.numpy() for g in tape.gradient(loss, variables)]
    model.train_on_batch(images, labels)
    with pytest.raises(ValueError, match="Received: data="):
        model.train_step((images,))
    # PyTorch SGD param groups: lr (features) and lr x 10 (conv6, fc),
    # weight_decay added to the gradient.
    for name, variable, w, g, ratio in zip(
        names, variables, before, grads, (1.0, 10.0, 10.0)
    ):
        expected = w - lr * ratio * (g + 0.1 * w)
        np.testing.assert_allclose(
            variable.numpy(), expected, rtol=1e-4, atol=1e-6, err_msg=name
        )


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_step(policy):
    keras.mixed_precision.set_global_policy(policy)
    model = _model("vgg16", "icl", size=32)
    model.compile(
        optimizer=optimizers.build_optimizer(TrainConfig(), model),
        run_eagerly=True,
    )
    optimizer = model.optimizer
    scaled = []
    original = optimizer.scale_loss

    def spy(loss):
        out = original(loss)
        scaled.append((float(loss), float(out)))
        return out

    optimizer.scale_loss = spy
    fc = model.network.get_layer("fc").kernel
    before = fc.numpy().copy()
    images, labels = _data(32)
    outputs = model.network(images)
    assert outputs["features"].dtype == policy.split("_")[1]
    assert outputs["logits"].dtype == "float32"
    assert outputs["z_fg_pool3"].dtype == "float32"
    logs = model.train_on_batch(images, labels, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())
    loss, out = scaled[0]
    np.testing.assert_allclose(loss, logs["total_loss"], rtol=1e-6)
    if policy == "mixed_float16":
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        np.testing.assert_allclose(out, loss * 2.0**15, rtol=1e-6)
        # Either the step was applied or it overflowed and was skipped with
        # the dynamic loss scale halved (normal at the first steps).
        scale = float(optimizer.dynamic_scale.numpy())
        changed = np.abs(fc.numpy() - before).max() > 0
        assert changed or scale == 2.0**14
    else:
        assert not isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        assert out == loss
        assert np.abs(fc.numpy() - before).max() > 0


def test_config_round_trip_and_switches():
    model_config = ModelConfig(
        architecture="vgg16",
        method="icl",
        num_classes=4,
        large_feature_map=True,
        drop_rate=0.5,
        drop_threshold=0.7,
        bg_threshold=0.3,
        use_non_local=False,
        non_local_sub_sample=False,
        non_local_reduction=4,
        attention_source="output",
        mask_mode="soft",
        forward_mask="dfg",
        use_background_drop=False,
        pooled_feature="output",
        loss_positions="last",
    )
    loss_config = LossConfig(
        contrastive="nt_xent",
        ca_weight=0.5,
        fc_weight=0.0,
        margin=0.5,
        normalize_embeddings=True,
        temperature=0.1,
        consistency_distance="l2",
        consistency_mode="background",
    )
    model = WSOLModel(model_config, image_size=32, seed=3)
    config = model.get_config()
    expected = dict(model_config.to_dict(), weights=None)
    expected.pop("weights")
    assert config["config"] == expected
    assert (config["image_size"], config["seed"]) == (32, 3)
    clone = WSOLModel.from_config(config)
    assert clone.get_config() == config
    assert clone.model_config == model_config
    assert (clone.architecture, clone.method, clone.num_classes) == (
        "vgg16",
        "icl",
        4,
    )
    assert clone.positions == ("pool3", "pool4", "conv5_3")
    block = clone.network.get_layer("attention_pool4")
    assert block.get_config()["forward_mask"] == "drop"  # no background drop
    assert block.get_config()["mask_mode"] == "soft"
    assert block.get_config()["drop_threshold"] == 0.7
    assert block.get_config()["bg_threshold"] == 0.3
    assert block.get_config()["seed"] == 4  # seed + position index
    assert not block.use_non_local
    # large_feature_map: 32 / 8 = 4.
    assert clone.network.output["features"].shape[1] == 4
    clone.compile(optimizer="sgd", objective=loss_config)
    assert clone.objective.get_config() == {
        "loss_config": loss_config.to_dict(),
        "method": "icl",
        "positions": ["pool3", "pool4", "conv5_3"],
        "bg_threshold": 0.3,
        "loss_positions": "last",
    }
    assert [m.name for m in clone.metrics] == [
        "total_loss",
        "cls_loss",
        "ca_loss",
        "valid_fraction",
        "accuracy",
    ]
    with pytest.raises(ValueError, match="Received: method='x'"):
        WSOLModel(ModelConfig(architecture="vgg16", method="x"), 32)
    bigger = clone.with_image_size(48)
    assert bigger.network.output["features"].shape[1] == 6
    np.testing.assert_array_equal(
        bigger.network.get_layer("fc").kernel,
        clone.network.get_layer("fc").kernel,
    )


def test_attention_layers_receive_the_method_settings():
    # ADL gets its drop rate, the protocol's threshold for None and ADL's
    # forward mask; the ICL-only settings are not passed to it.
    model = _model("resnet50", "adl", size=64, drop_rate=0.25)
    adl = model.network.get_layer("attention_layer4_2")
    config = adl.get_config()
    assert (config["drop_rate"], config["drop_threshold"]) == (0.25, 0.9)
    assert config["forward_mask"] == "drop"
    assert config["seed"] == 2 and not config["return_masks"]


def test_the_builder_writes_every_setting_out():
    assert network.attention_arguments(ModelConfig(method="cam")) == {}
    assert network.attention_arguments(ModelConfig(method="adl")) == {
        "drop_rate": 0.75,
        "drop_threshold": 0.9,  # the protocol's gamma_d for None
        "forward_mask": "drop",
    }
    icl = network.attention_arguments(
        ModelConfig(use_background_drop=False, non_local_reduction=4)
    )
    assert icl == {
        "drop_rate": 0.75,
        "drop_threshold": 0.9,
        "bg_threshold": 0.2,
        "use_non_local": True,
        "non_local_sub_sample": True,
        "non_local_reduction": 4,
        "attention_source": "output",
        "mask_mode": "hard",
        "forward_mask": "drop",  # no background drop: ADL's mask
        "pooled_feature": "input",
    }
    # Every argument is one the layer's constructor takes.
    for method, arguments in (("icl", icl), ("adl", {})):
        layer_class = network.ATTENTION_LAYERS[method]
        layer_class(**arguments)


def test_a_setting_the_method_does_not_read_is_an_error():
    with pytest.raises(ValueError) as info:
        _model("vgg16", "adl", size=32, bg_threshold=0.3)
    assert str(info.value) == (
        "Expected only the settings of method='adl' to differ from their "
        "defaults; bg_threshold is not read by it. Received: bg_threshold=0.3"
    )
    with pytest.raises(ValueError, match="Received: drop_threshold=0.5"):
        _model("vgg16", "cam", size=32, drop_threshold=0.5)


def test_a_new_config_field_without_a_reader_is_an_error():
    @dataclasses.dataclass(frozen=True)
    class Extended(ModelConfig):
        block_gain: float = setting(2.0, "Test: a gain of the ICL block.")

    with pytest.raises(ValueError, match=r"unread settings: \['block_gain'\]"):
        network.check_settings(Extended(architecture="vgg16"))


def test_from_config_reads_the_flat_keyword_format():
    # Saved `.keras` files before the ModelConfig argument held the fields
    # as flat keyword arguments, with the loss / optimizer ones beside them.
    config = ModelConfig(architecture="vgg16", method="adl", num_classes=2)
    flat = dict(
        config.to_dict(),
        image_size=32,
        seed=5,
        name="wsol_model",
        contrastive="triplet",
        ca_weight=1.0,
        weight_decay=1e-4,
        lr_classifier_ratio=10.0,
    )
    flat.pop("weights")
    model = WSOLModel.from_config(flat)
    assert model.model_config == config
    assert (model.image_size, model.seed, model.name) == (32, 5, "wsol_model")


def test_build_model_from_configs_loads_weights(tmp_path):
    reference = keras.applications.VGG16(include_top=False, weights=None)
    path = str(tmp_path / "vgg16_notop.weights.h5")
    reference.save_weights(path)
    model_config = ModelConfig(
        architecture="vgg16", method="adl", num_classes=3, weights=path
    )
    loss_config = LossConfig(contrastive="none", fc_weight=0.0)
    model = build_model(model_config, image_size=32)
    for name in ("block1_conv1", "block5_conv3"):
        np.testing.assert_array_equal(
            model.network.get_layer(name).kernel,
            reference.get_layer(name).kernel,
        )
    # drop_threshold=None resolves to wsolevaluation's 0.9 (spec 1.2).
    adl = model.network.get_layer("attention_pool3")
    assert (adl.drop_rate, adl.drop_threshold) == (0.75, 0.9)
    model.compile(optimizer="sgd", objective=loss_config)
    assert [m.name for m in model.metrics] == [
        "total_loss",
        "cls_loss",
        "accuracy",
    ]


def test_non_local_reduction_from_model_config():
    model_config = ModelConfig(
        architecture="vgg16",
        method="icl",
        num_classes=3,
        non_local_reduction=8,
    )
    assert ModelConfig.from_dict(model_config.to_dict()) == model_config
    model = build_model(model_config, image_size=64)
    assert model.get_config()["config"]["non_local_reduction"] == 8
    # VGG16 blocks: pool3 (256 ch), pool4 and conv5_3 (512 ch).
    widths = {}
    for layer in _attention_layers(model):
        kernel = layer.non_local.theta.kernel
        channels = kernel.shape[2]
        assert tuple(kernel.shape) == (1, 1, channels, channels // 8)
        assert layer.get_config()["non_local_reduction"] == 8
        widths[layer.name] = kernel.shape[3]
    assert widths == {
        "attention_pool3": 32,
        "attention_pool4": 64,
        "attention_conv5_3": 64,
    }
    clone = WSOLModel.from_config(model.get_config())
    block = clone.network.get_layer("attention_pool4")
    assert tuple(block.non_local.phi.kernel.shape) == (1, 1, 512, 64)
    with pytest.raises(ValueError, match="non_local_reduction=0"):
        build_model(
            ModelConfig(method="icl", non_local_reduction=0), image_size=64
        )
    with pytest.raises(ValueError, match="non_local_reduction"):
        WSOLModel(
            ModelConfig(
                architecture="vgg16", method="icl", non_local_reduction=0
            ),
            64,
        )


def test_save_and_load_keras_safe_mode(tmp_path):
    _save_load(tmp_path, "vgg16")


@pytest.mark.large
@pytest.mark.parametrize("arch", ["resnet50", "inceptionv3"])
def test_save_and_load_keras_large(tmp_path, arch):
    _save_load(tmp_path, arch)


def _save_load(tmp_path, arch):
    size = 96 if arch == "inceptionv3" else 32
    model = _model(arch, "icl", size=size)
    model.compile(
        optimizer=optimizers.build_optimizer(TrainConfig(), model),
        objective=LossConfig(margin=0.5, fc_weight=0.5),
        run_eagerly=True,
    )
    images, labels = _data(size)
    model.train_on_batch(images, labels)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is WSOLModel
    assert loaded.get_config() == model.get_config()
    # Compiled again from the file: same objective, same optimizer.
    assert loaded.objective.get_config() == model.objective.get_config()
    assert loaded.objective.loss_config.margin == 0.5
    assert type(loaded.optimizer) is optimizers.SGD
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert (
        loaded.optimizer.lr_multipliers[
            loaded.network.get_layer(
                "fc" if arch != "inceptionv3" else "SPG_A4"
            ).kernel.path
        ]
        == 10.0
    )
    a = model(images, training=False)
    b = loaded(images, training=False)
    np.testing.assert_array_equal(a["logits"], b["logits"])
    np.testing.assert_array_equal(a["cams"], b["cams"])
    model.reset_metrics()
    loaded.reset_metrics()
    before = model.test_step((images, labels))
    after = loaded.test_step((images, labels))
    assert {k: float(v) for k, v in before.items()} == pytest.approx(
        {k: float(v) for k, v in after.items()}
    )
    # test_step's cls_loss is the softmax cross-entropy of the logits.
    logits = np.asarray(a["logits"], "float64")
    shifted = logits - logits.max(-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    ce = -log_p[np.arange(2), labels].mean()
    np.testing.assert_allclose(after["cls_loss"], ce, rtol=1e-5)
    # The restored model (weights, momentum buffers) trains on identically
    # (the SeedGenerator states are not in the file: copied here).
    for old, new in zip(model.variables, loaded.variables):
        if "seed_generator_state" in old.path:
            new.assign(old)
    model.train_on_batch(images, labels)
    loaded.train_on_batch(images, labels)
    for old, new in zip(model.trainable_variables, loaded.trainable_variables):
        np.testing.assert_allclose(new, old, rtol=1e-6, atol=1e-7)


def test_fit_in_graph_mode_under_a_distribution_strategy():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = _model("vgg16", "icl", size=32)
        model.compile(optimizer=_sgd())
    images, labels = _data(32, batch=4)
    fc = model.network.get_layer("fc").kernel
    before = fc.numpy().copy()
    history = model.fit(images, labels, batch_size=2, epochs=1, verbose=0)
    assert history.history["total_loss"][0] > 0
    assert np.isfinite(history.history["fc_loss"][0])
    assert np.abs(fc.numpy() - before).max() > 0


def test_as_float32_copies_a_mixed_model_to_float32_with_its_weights():
    """The final report / export model: float32 everywhere, the same
    weights, and CAMs equal to a model built in float32 (the bfloat16
    original's differ by far more)."""
    config = ModelConfig(
        architecture="resnet50",
        method="icl",
        num_classes=3,
        width_multiplier=0.125,
    )
    images = np.random.default_rng(0).normal(size=(2, 64, 64, 3))
    images = images.astype(np.float32)
    classes = np.array([0, 2])
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    mixed = build_model(config, image_size=64)
    mixed(images)
    copy = mixed.as_float32()
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert copy.dtype_policy.name == "float32"
    assert {layer.dtype_policy.name for layer in copy.network.layers} == {
        "float32"
    }
    keras.mixed_precision.set_global_policy("float32")
    reference = build_model(config, image_size=64)
    reference(images)
    reference.network.set_weights(mixed.network.get_weights())
    for a, b in zip(copy.network.weights, reference.network.weights):
        np.testing.assert_array_equal(a, b)
    _, want = reference.compute_cams(images, classes)
    _, got = copy.compute_cams(images, classes)
    _, low = mixed.compute_cams(images, classes)
    want = np.asarray(want)
    scale = np.abs(want).max()
    assert np.abs(np.asarray(got) - want).max() <= 1e-5 * scale
    assert np.abs(np.asarray(low, np.float32) - want).max() > 1e-3 * scale
    assert reference.as_float32() is reference
