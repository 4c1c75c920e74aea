"""Block positions, feature sizes and parameter counts of the backbones.

All 224-px checks are symbolic (keras.Input), so they cost no compute.
Expected numbers come from spec/method.md section 1.1 and from
keras.applications, never from the code under test.
"""

import keras
import numpy as np
import pytest

from wsol_tf import backbones

# spec/method.md 1.1 (sizes at 224) and the contract's position names.
EXPECTED_224 = {
    "vgg16": (
        [
            ("pool3", (28, 28, 256)),
            ("pool4", (14, 14, 512)),
            ("conv5_3", (14, 14, 512)),
        ],
        (14, 14, 1024),
    ),
    "resnet50": (
        [
            ("layer3_0", (14, 14, 1024)),
            ("layer4_0", (14, 14, 2048)),
            ("layer4_2", (14, 14, 2048)),
        ],
        (14, 14, 2048),
    ),
    "inceptionv3": (
        [
            ("mixed_5d", (28, 28, 288)),
            ("mixed_6e", (14, 14, 768)),
            ("A3_2b", (14, 14, 1024)),
        ],
        (14, 14, 1024),
    ),
}
# large_feature_map=True: stride 8 everywhere after the spec's changes.
EXPECTED_LARGE_224 = {
    "vgg16": ([(28, 28, 256), (28, 28, 512), (28, 28, 512)], (28, 28, 1024)),
    "resnet50": (
        [(28, 28, 1024), (28, 28, 2048), (28, 28, 2048)],
        (28, 28, 2048),
    ),
    "inceptionv3": (
        [(28, 28, 288), (28, 28, 768), (28, 28, 1024)],
        (28, 28, 1024),
    ),
}


@pytest.mark.parametrize("arch", list(EXPECTED_224))
def test_positions_and_feature_map_at_224(arch, build_recorded):
    model, calls = build_recorded(arch, 224)
    positions, feature = EXPECTED_224[arch]
    assert list(calls) == positions
    assert tuple(model.output.shape[1:]) == feature
    assert backbones.BLOCK_POSITIONS[arch] == tuple(p for p, _ in positions)
    assert backbones.FEATURE_CHANNELS[arch] == feature[-1]
    channels = backbones.POSITION_CHANNELS[arch]
    assert {p: channels[p] for p, _ in positions} == {
        p: s[-1] for p, s in positions
    }
    assert backbones.feature_map_size(arch, 224) == 14


@pytest.mark.parametrize("arch", list(EXPECTED_LARGE_224))
def test_large_feature_map_at_224(arch, build_recorded):
    model, calls = build_recorded(arch, 224, True)
    sizes, feature = EXPECTED_LARGE_224[arch]
    assert [s for _, s in calls] == sizes
    assert tuple(model.output.shape[1:]) == feature
    assert backbones.feature_map_size(arch, 224, True) == 28


def test_vgg16_layers_and_parameter_count(build_recorded, keras_reference):
    model, _ = build_recorded("vgg16", 224)
    names = [layer.name for layer in model.layers]
    assert "block5_pool" not in names and "block4_pool" in names
    ref = keras_reference("vgg16")
    conv6 = 3 * 3 * 512 * 1024 + 1024
    assert ref.count_params() == 14_714_688
    assert model.count_params() == ref.count_params() + conv6
    large, _ = build_recorded("vgg16", 224, True)
    assert "block4_pool" not in [layer.name for layer in large.layers]
    assert model.get_layer("conv6").kernel.shape == (3, 3, 512, 1024)


def test_resnet50_parameter_count_and_strides(build_recorded, keras_reference):
    model, _ = build_recorded("resnet50", 224)
    ref = keras_reference("resnet50")
    assert ref.count_params() == 23_587_712
    assert model.count_params() == ref.count_params()
    for name in ("conv5_block1_0_conv", "conv5_block1_1_conv"):
        assert model.get_layer(name).strides == (1, 1)
        assert ref.get_layer(name).strides == (2, 2)
    assert model.get_layer("conv4_block1_1_conv").strides == (2, 2)
    large, _ = build_recorded("resnet50", 224, True)
    assert large.get_layer("conv4_block1_1_conv").strides == (1, 1)


def test_inceptionv3_parameter_count(build_recorded, keras_reference):
    model, _ = build_recorded("inceptionv3", 224)
    ref = keras_reference("inceptionv3")
    shared = keras.Model(ref.input, ref.get_layer("mixed7").output)
    head = (3 * 3 * 768 * 1024 + 1024) + (3 * 3 * 1024 * 1024 + 1024)
    assert model.count_params() == shared.count_params() + head
    assert model.count_params() == 25_492_384
    assert model.get_layer("Mixed_6a_branch3x3_conv").strides == (1, 1)
    assert tuple(model.get_layer("Mixed_5d").output.shape[1:]) == (28, 28, 288)


@pytest.mark.parametrize(
    "arch,size,large",
    [
        ("vgg16", 100, False),
        ("vgg16", 32, True),
        ("resnet50", 97, False),
        ("resnet50", 32, True),
        ("inceptionv3", 97, False),
        ("inceptionv3", 32, True),
    ],
)
def test_feature_map_size_matches_graph(arch, size, large, build_recorded):
    model, _ = build_recorded(arch, size, large)
    expected = backbones.feature_map_size(arch, size, large)
    assert expected >= 1
    assert tuple(model.output.shape[1:3]) == (expected, expected)


def test_feature_map_sizes_by_hand():
    # VGG: 100 -> 50 -> 25 -> 12 -> 6. ResNet: 97 -> 49 -> 25 -> 13 -> 7.
    assert backbones.feature_map_size("vgg16", 100) == 6
    assert backbones.feature_map_size("resnet50", 97) == 7
    assert backbones.feature_map_size("resnet50", 97, True) == 13
    # Inception at 97: 1a 49, 2a 47, pool ceil(46 / 2) + 1 = 24, 4a 22,
    # pool ceil(21 / 2) + 1 = 12, pool pad 0: ceil(9 / 2) + 1 = 6.
    assert backbones.feature_map_size("inceptionv3", 97) == 6
    assert backbones.feature_map_size("inceptionv3", 97, True) == 12


def test_inception_sizes_by_hand(build_recorded):
    # PyTorch sizes computed by hand for 299 (torchvision's native size):
    # 1a (299+2-3)//2+1=150, 2a 148, pool ceil((148-1)/2)+1=75, 4a 73,
    # pool ceil(72/2)+1=37, pool pad 0 ceil((37-3)/2)+1=18.
    model, calls = build_recorded("inceptionv3", 299)
    assert calls[0][1][:2] == (37, 37)
    assert tuple(model.output.shape[1:3]) == (18, 18)


def test_insert_fn_output_continues_the_network():
    inputs = keras.Input(shape=(32, 32, 3))
    scale = {}

    def insert(position, x):
        layer = keras.layers.Rescaling(0.0, name=f"attention_{position}")
        scale[position] = layer
        return layer(x) if position == "conv5_3" else x

    outputs = backbones.build_backbone("vgg16", inputs, insert_fn=insert)
    model = keras.Model(inputs, outputs)
    assert set(scale) == {"pool3", "pool4", "conv5_3"}
    conv6 = model.get_layer("conv6")
    # Zeroed input to conv6 -> output is relu(bias) = 0 (zero bias init).
    out = model(np.random.rand(2, 32, 32, 3).astype("float32"))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), 0.0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(conv6.bias), 0)


def test_vgg16_conv6_is_he_fan_out(build_recorded):
    model, _ = build_recorded("vgg16", 224)
    kernel = keras.ops.convert_to_numpy(model.get_layer("conv6").kernel)
    # kaiming_normal_(mode="fan_out"): std = sqrt(2 / (3 * 3 * 1024)).
    np.testing.assert_allclose(kernel.std(), np.sqrt(2 / 9216), rtol=0.02)


def test_bad_arguments():
    inputs = keras.Input(shape=(64, 64, 3))
    with pytest.raises(ValueError, match="Received: architecture=vgg19"):
        backbones.build_backbone("vgg19", inputs)
    with pytest.raises(ValueError, match="at least 15x15"):
        backbones.build_backbone("inceptionv3", keras.Input((14, 14, 3)))
    with pytest.raises(ValueError, match="static spatial"):
        backbones.build_backbone("inceptionv3", keras.Input((None, None, 3)))
    with pytest.raises(ValueError, match="4D channels-last"):
        backbones.build_backbone("resnet50", keras.Input((64, 3)))
    with pytest.raises(ValueError, match="position pool3"):
        backbones.build_backbone("vgg16", inputs, insert_fn=lambda p, x: None)
    with pytest.raises(ValueError, match="must be callable"):
        backbones.build_backbone("vgg16", inputs, insert_fn=3)


def test_cam_kind_and_classifier_names():
    assert backbones.CAM_KIND == {
        "vgg16": "channel_mean",
        "resnet50": "channel_mean",
        "inceptionv3": "conv",
    }
    assert backbones.CLASSIFIER_NAMES == {
        "vgg16": "fc",
        "resnet50": "fc",
        "inceptionv3": "SPG_A4",
    }


@pytest.mark.parametrize("arch", ["vgg16", "resnet50"])
def test_width_multiplier_scales_every_channel_count_and_keeps_names(arch):
    # The demo backbone: the same layers and names, channels x 0.25.
    def conv_channels(width):
        inputs = keras.Input((64, 64, 3))
        seen = []

        def insert(position, x):
            seen.append((position, x.shape[-1]))
            return x

        features = backbones.build_backbone(
            arch, inputs, insert_fn=insert, width_multiplier=width
        )
        model = keras.Model(inputs, features)
        convs = {
            layer.name: layer.filters
            for layer in model.layers
            if isinstance(layer, keras.layers.Conv2D)
        }
        return convs, seen, features.shape[-1]

    full, full_seen, full_features = conv_channels(1.0)
    demo, demo_seen, demo_features = conv_channels(0.25)
    assert list(demo) == list(full)
    assert demo == {name: max(1, round(c / 4)) for name, c in full.items()}
    assert [p for p, _ in demo_seen] == [p for p, _ in full_seen]
    assert [c for _, c in demo_seen] == [c // 4 for _, c in full_seen]
    assert demo_features == full_features // 4


def test_width_multiplier_refused_where_not_scalable():
    with pytest.raises(ValueError, match="width_multiplier"):
        backbones.build_backbone(
            "inceptionv3", keras.Input((96, 96, 3)), width_multiplier=0.5
        )
