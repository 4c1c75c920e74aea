"""Weight loading: keras.applications files load into our backbones.

Each test saves a randomly initialised keras.applications model (BN
statistics randomised too), loads the file into our backbone and compares
intermediate outputs with Keras' own graph on the same input.
"""

import keras
import numpy as np
import pytest

from wsol_tf import backbones


def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, w.shape).astype("float32")
                    if "variance" in w.path or "gamma" in w.path
                    else rng.normal(0, 0.5, w.shape).astype("float32")
                    for w in layer.weights
                ]
            )
    return model


def _save(model, tmp_path, name):
    path = str(tmp_path / f"{name}.weights.h5")
    model.save_weights(path)
    return path


def _ours(arch, size, insert_fn=None):
    inputs = keras.Input(shape=(size, size, 3))
    outputs = backbones.build_backbone(arch, inputs, insert_fn=insert_fn)
    return keras.Model(inputs, outputs)


def _run(model, inp, out, x):
    sub = keras.Model(
        model.get_layer(inp).output if inp else model.input,
        model.get_layer(out).output,
    )
    return keras.ops.convert_to_numpy(sub(x))


def _by_creation(model, cls):
    def index(layer):
        suffix = layer.name.rsplit("_", 1)[-1]
        return int(suffix) if suffix.isdigit() else 0

    return sorted((x for x in model.layers if type(x) is cls), key=index)


def _like(model, name, rng):
    shape = tuple(model.get_layer(name).output.shape[1:])
    return rng.normal(size=(2,) + shape).astype("float32")


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_vgg16_loads_keras_file_with_inserted_layers(tmp_path, keras_reference):
    ref = keras_reference("vgg16")
    path = _save(ref, tmp_path, "vgg16")

    def insert(position, x):
        layer = keras.layers.Conv2D(
            x.shape[-1], 1, name=f"attention_{position}"
        )
        return x if position == "conv5_3" else layer(x) * 0.0 + x

    model = _ours("vgg16", 64, insert)
    extra = model.get_layer("attention_pool3").get_weights()
    loaded = backbones.load_backbone_weights(
        model, "vgg16", path, input_shape=(64, 64, 3)
    )
    assert len(loaded) == 13
    x = np.random.rand(2, 64, 64, 3).astype("float32") * 100
    # block4_pool output: the inserted branches add exactly 0.
    _close(
        _run(model, None, "block5_conv3", x), _run(ref, None, "block5_conv3", x)
    )
    for got, want in zip(
        model.get_layer("attention_pool3").get_weights(), extra
    ):
        np.testing.assert_array_equal(got, want)


def test_resnet50_loads_keras_file(tmp_path, keras_reference):
    ref = _randomize(keras_reference("resnet50"))
    path = _save(ref, tmp_path, "resnet50")
    model = _ours("resnet50", 64)
    backbones.load_backbone_weights(
        model, "resnet50", path, input_shape=(64, 64, 3)
    )
    x = np.random.rand(2, 64, 64, 3).astype("float32")
    # Stride-identical up to the end of conv4 (layer3).
    _close(
        _run(model, None, "conv4_block6_out", x),
        _run(ref, None, "conv4_block6_out", x),
    )
    # conv5 (stride changed): every weight equals Keras' by name.
    for layer in ref.layers:
        if layer.name.startswith("conv5_") and layer.weights:
            for got, want in zip(
                model.get_layer(layer.name).get_weights(), layer.get_weights()
            ):
                np.testing.assert_array_equal(got, want)


def test_inceptionv3_loads_keras_file(tmp_path, keras_reference):
    ref = _randomize(keras_reference("inceptionv3"))
    path = _save(ref, tmp_path, "inceptionv3")
    model = _ours("inceptionv3", 96)
    backbones.load_backbone_weights(
        model, "inceptionv3", path, input_shape=(96, 96, 3)
    )
    acts = _by_creation(ref, keras.layers.Activation)
    pools = _by_creation(ref, keras.layers.MaxPooling2D)
    rng = np.random.default_rng(1)
    # Conv2d_1a: Keras' conv is "valid"; ours pads by 1 first.
    x = rng.random((2, 96, 96, 3), dtype="float32")
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    ours = _run(model, None, "Conv2d_1a_3x3", x)
    theirs = keras.Model(ref.input, acts[0].output)(padded)
    _close(ours, keras.ops.convert_to_numpy(theirs))
    # Conv2d_2a, 2b (same padding in both) and Conv2d_3b, 4a.
    for ours_io, theirs_io in (
        (("Conv2d_1a_3x3", "Conv2d_2b_3x3"), (acts[0], acts[2])),
        (("MaxPool_3a_3x3", "Conv2d_4a_3x3"), (pools[0], acts[4])),
    ):
        y = _like(model, ours_io[0], rng)
        theirs = keras.Model(theirs_io[0].output, theirs_io[1].output)(y)
        _close(_run(model, *ours_io, y), keras.ops.convert_to_numpy(theirs))
    # Mixed_5b-5d == mixed0-2 on the same input.
    y = _like(model, "MaxPool_5a_3x3", rng)
    theirs = keras.Model(pools[1].output, ref.get_layer("mixed2").output)(y)
    _close(
        _run(model, "MaxPool_5a_3x3", "Mixed_5d", y),
        keras.ops.convert_to_numpy(theirs),
    )
    # Mixed_6a (stride 1, "same") sampled at odd positions == mixed3
    # (stride 2, "valid"): same windows, same weights.
    y = _like(model, "MaxPool_6_3x3", rng)
    theirs = _run(ref, "mixed2", "mixed3", y)
    ours = _run(model, "MaxPool_6_3x3", "Mixed_6a", y)
    n = (y.shape[1] - 3) // 2 + 1
    assert theirs.shape == (2, n, n, 768) and n >= 2
    _close(ours[:, 1::2, 1::2][:, :n, :n], theirs)
    # Mixed_6b-6e == mixed4-7.
    y = _like(model, "Mixed_6a", rng)
    _close(
        _run(model, "Mixed_6a", "Mixed_6e", y), _run(ref, "mixed3", "mixed7", y)
    )


def test_imagenet_offline_gives_one_clear_sentence():
    model = _ours("resnet50", 32)
    try:
        backbones.load_backbone_weights(
            model, "resnet50", "imagenet", input_shape=(32, 32, 3)
        )
    except backbones.WeightsUnavailableError as error:
        message = str(error)
        assert isinstance(error, RuntimeError)
        assert isinstance(error, ValueError)
        assert message.startswith(
            "Could not download the ImageNet weights for resnet50"
        )
        assert "weights=<path" in message
        assert message.count(". ") == 0 and "\n" not in message
    else:
        pytest.skip("ImageNet weights were available (network or cache).")


def test_bad_paths_and_models(tmp_path, keras_reference):
    model = _ours("vgg16", 32)
    missing = str(tmp_path / "nope.h5")
    with pytest.raises(ValueError, match="does not exist.*nope.h5"):
        backbones.load_backbone_weights(
            model, "vgg16", missing, input_shape=(32, 32, 3)
        )
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"not an h5 file")
    with pytest.raises(ValueError, match="Could not read .*junk.weights.h5"):
        backbones.load_backbone_weights(
            model, "vgg16", str(junk), input_shape=(32, 32, 3)
        )
    with pytest.raises(ValueError, match="Received: architecture=vgg"):
        backbones.load_backbone_weights(
            model, "vgg", missing, input_shape=(32, 32, 3)
        )
    with pytest.raises(ValueError, match="Received: input_shape="):
        backbones.load_backbone_weights(
            model, "vgg16", missing, input_shape=(32, 32)
        )
    # A model without the backbone's layers: a clear list of what is missing.
    inputs = keras.Input((32, 32, 3))
    other = keras.Model(inputs, keras.layers.Conv2D(4, 3, name="c")(inputs))
    path = _save(keras_reference("vgg16"), tmp_path, "vgg")
    with pytest.raises(ValueError, match="lacks 13 vgg16.*block1_conv1"):
        backbones.load_backbone_weights(
            other, "vgg16", path, input_shape=(32, 32, 3)
        )


def test_own_backbone_file_restores_head(tmp_path):
    src = _ours("vgg16", 32)
    path = _save(src, tmp_path, "own")
    dst = _ours("vgg16", 32)
    names = backbones.load_backbone_weights(
        dst, "vgg16", path, input_shape=(32, 32, 3)
    )
    assert "conv6" in names and len(names) == 14
    x = np.random.rand(2, 32, 32, 3).astype("float32")
    _close(
        keras.ops.convert_to_numpy(dst(x)), keras.ops.convert_to_numpy(src(x))
    )


def test_pretrained_layer_names_cover_keras_weighted_layers(keras_reference):
    # VGG16 / ResNet50: exactly Keras' layers that hold weights.
    for arch in ("vgg16", "resnet50"):
        ref = keras_reference(arch)
        expected = {layer.name for layer in ref.layers if layer.weights}
        assert set(backbones.pretrained_layer_names(arch)) == expected
    # InceptionV3 through mixed7: 5 stem + 3 * 7 + 4 + 4 * 10 conv/BN pairs.
    names = backbones.pretrained_layer_names("inceptionv3")
    assert len(names) == 2 * (5 + 21 + 4 + 40)
    assert names[:4] == (
        "Conv2d_1a_3x3_conv",
        "Conv2d_1a_3x3_bn",
        "Conv2d_2a_3x3_conv",
        "Conv2d_2a_3x3_bn",
    )
    assert names[-2:] == (
        "Mixed_6e_branch_pool_conv",
        "Mixed_6e_branch_pool_bn",
    )
