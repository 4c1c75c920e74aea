"""Learning-rate groups: wsolevaluation's _FEATURE_PARAM_LAYER_PATTERNS."""

import pytest

from wsol_tf import backbones

# (architecture, name, expected): True = base LR, False = LR x ratio.
CASES = [
    ("vgg16", "block1_conv1", True),
    ("vgg16", "block5_conv3", True),
    ("vgg16", "attention_pool3", True),  # inside `features` in PyTorch
    ("vgg16", "attention_conv5_3", True),
    ("vgg16", "conv6", False),
    ("vgg16", "fc", False),
    ("vgg16", "attention_pool4/theta/kernel", True),
    ("resnet50", "conv1_conv", True),
    ("resnet50", "conv4_block6_3_bn", True),
    ("resnet50", "attention_layer3_0", True),  # inside layer3
    ("resnet50", "conv5_block1_0_conv", False),
    ("resnet50", "conv5_block3_out", False),
    ("resnet50", "attention_layer4_0", False),
    ("resnet50", "attention_layer4_2/phi/kernel", False),
    ("resnet50", "fc", False),
    ("resnet50", "fc/kernel", False),
    ("inceptionv3", "Conv2d_1a_3x3_conv", True),
    ("inceptionv3", "Conv2d_4a_3x3_bn", True),
    ("inceptionv3", "Mixed_6e_branch7x7dbl_5_conv", True),
    ("inceptionv3", "SPG_A3_1b", False),
    ("inceptionv3", "SPG_A3_2b/kernel", False),
    ("inceptionv3", "SPG_A4", False),
    ("inceptionv3", "attention_mixed_5d", False),  # top-level ADL_5d
    ("inceptionv3", "attention_A3_2b", False),
]


@pytest.mark.parametrize("arch,name,expected", CASES)
def test_examples(arch, name, expected):
    assert backbones.is_feature_layer(arch, name) is expected


@pytest.mark.parametrize(
    "arch,size,new_layers",
    [
        ("vgg16", 224, {"conv6"}),
        ("resnet50", 224, None),
        ("inceptionv3", 224, {"SPG_A3_1b", "SPG_A3_2b"}),
    ],
)
def test_every_backbone_layer(arch, size, new_layers, build_recorded):
    model, _ = build_recorded(arch, size, True)
    for layer in model.layers:
        if not layer.weights:
            continue
        if new_layers is None:  # ResNet50: layer4 == Keras' conv5 stage.
            expected = not layer.name.startswith("conv5_")
        else:
            expected = layer.name not in new_layers
        assert backbones.is_feature_layer(arch, layer.name) is expected


def test_unknown_architecture():
    with pytest.raises(ValueError, match="Received: architecture=alexnet"):
        backbones.is_feature_layer("alexnet", "fc")
