"""Each layer's and loss's default is its config field's default, and the
layer and the config accept the same values."""

import dataclasses
import inspect

import pytest

from wsol_tf import defaults
from wsol_tf.config import LossConfig
from wsol_tf.config import ModelConfig
from wsol_tf.layers import AttentionDropout
from wsol_tf.layers import ICLAttentionBlock
from wsol_tf.layers import NonLocalBlock
from wsol_tf.losses import ConsistencyLoss
from wsol_tf.losses import NTXentLoss
from wsol_tf.losses import TripletLoss
from wsol_tf.models import WSOLObjective
from wsol_tf.models import network

# (callable, its argument, the config class, the config field).
SHARED = [
    (AttentionDropout, "drop_rate", ModelConfig, "drop_rate"),
    (AttentionDropout, "drop_threshold", ModelConfig, "drop_threshold"),
    (AttentionDropout, "bg_threshold", ModelConfig, "bg_threshold"),
    (AttentionDropout, "mask_mode", ModelConfig, "mask_mode"),
    (NonLocalBlock, "reduction", ModelConfig, "non_local_reduction"),
    (NonLocalBlock, "sub_sample", ModelConfig, "non_local_sub_sample"),
    (WSOLObjective, "bg_threshold", ModelConfig, "bg_threshold"),
    (WSOLObjective, "loss_positions", ModelConfig, "loss_positions"),
    (TripletLoss, "margin", LossConfig, "margin"),
    (TripletLoss, "normalize", LossConfig, "normalize_embeddings"),
    (NTXentLoss, "temperature", LossConfig, "temperature"),
    (ConsistencyLoss, "distance", LossConfig, "consistency_distance"),
    (ConsistencyLoss, "mode", LossConfig, "consistency_mode"),
    (ConsistencyLoss, "bg_threshold", ModelConfig, "bg_threshold"),
] + [
    # ICL: every setting of the builder that the block's constructor takes.
    (ICLAttentionBlock, name, ModelConfig, name)
    for name in network.METHOD_SETTINGS["icl"]
    if name in inspect.signature(ICLAttentionBlock.__init__).parameters
]


def _config_default(config_cls, field):
    config = config_cls()
    if field == "drop_threshold":  # None: the protocol's gamma_d
        return config.resolved_drop_threshold()
    return getattr(config, field)


@pytest.mark.parametrize(
    "owner,argument,config_cls,field",
    SHARED,
    ids=[f"{o.__name__}.{a}" for o, a, _, _ in SHARED],
)
def test_layer_default_is_the_config_default(
    owner, argument, config_cls, field
):
    parameter = inspect.signature(owner.__init__).parameters[argument]
    assert parameter.default == _config_default(config_cls, field)


def test_drop_threshold_is_wsolevaluations():
    # wsolevaluation's --adl_threshold default, for every backbone.
    assert defaults.DROP_THRESHOLD == 0.9
    for arch in ("vgg16", "resnet50", "inceptionv3"):
        config = ModelConfig(architecture=arch)
        assert config.resolved_drop_threshold() == 0.9


# Values on both sides of each bound: the layer and the config agree.
PROBES = {
    "drop_rate": (-0.1, 0.0, 1.0, 1.5),
    "drop_threshold": (0.0, 1e-3, 1.0, 1.01),
    "bg_threshold": (-0.1, 0.0, 0.99, 1.0),
    "non_local_reduction": (0, 1, 8),
    "attention_source": ("output", "non_local", "x"),
    "pooled_feature": ("input", "output", "x"),
    "mask_mode": ("hard", "soft", "x"),
    "forward_mask": ("dfg", "drop", "x"),
}


@pytest.mark.parametrize("name", sorted(PROBES))
def test_layer_and_config_accept_the_same_values(name):
    for value in PROBES[name]:
        try:
            ModelConfig(**{name: value})
            config_ok = True
        except ValueError:
            config_ok = False
        try:
            ICLAttentionBlock(**{name: value})
            layer_ok = True
        except ValueError as error:
            layer_ok = False
            assert str(error).startswith(f"Expected `{name}` to be ")
            assert str(error).endswith(f"Received: {name}={value!r}")
        assert layer_ok == config_ok, (name, value)


def test_messages():
    with pytest.raises(ValueError) as info:
        AttentionDropout(drop_rate=1.5)
    assert str(info.value) == (
        "Expected `drop_rate` to be a number in [0, 1]. Received: drop_rate=1.5"
    )
    with pytest.raises(ValueError) as info:
        ConsistencyLoss(mode="x")
    assert str(info.value) == (
        "Expected `mode` to be one of ('full', 'background'). "
        "Received: mode='x'"
    )


def test_the_config_declares_its_method_fields_with_the_constants():
    fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
    assert fields["mask_mode"].metadata["wsol_tf_setting"].choices == (
        defaults.MASK_MODES
    )
