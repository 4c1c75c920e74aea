"""The inner functional network of WSOLModel: backbone, blocks, head."""

import dataclasses

import keras

from wsol_tf import backbones
from wsol_tf.layers import AttentionDropout
from wsol_tf.layers import ICLAttentionBlock

OUTPUT_LOGITS = "logits"
ICL_OUTPUTS = ("attention", "z_dfg", "z_fg", "z_bg", "valid")


# The attention layer of each method (None: CAM has none).
ATTENTION_LAYERS = {
    "cam": None,
    "adl": AttentionDropout,
    "icl": ICLAttentionBlock,
}

# The `ModelConfig` fields every method reads: here (the backbone and the
# head), in `build_model` (`weights`) and in the data checks
# (`num_classes`).
COMMON_SETTINGS = (
    "architecture",
    "method",
    "num_classes",
    "weights",
    "large_feature_map",
    "width_multiplier",
)
# The fields each method reads beyond those: its attention layer's (see
# `attention_arguments`) and, for ICL, the objective's `loss_positions`.
METHOD_SETTINGS = {
    "cam": (),
    "adl": ("drop_rate", "drop_threshold"),
    "icl": (
        "drop_rate",
        "drop_threshold",
        "bg_threshold",
        "use_non_local",
        "non_local_sub_sample",
        "non_local_reduction",
        "attention_source",
        "mask_mode",
        "forward_mask",
        "use_background_drop",
        "pooled_feature",
        "loss_positions",
    ),
}


def check_settings(config):
    """Raises ValueError for a setting that `config.method` would not read.

    Every `ModelConfig` field must be listed in `COMMON_SETTINGS` or
    `METHOD_SETTINGS` (a field added to the config without a reader here
    is an error, not a silent drop), and a setting another method reads
    must keep its default (e.g. `bg_threshold` of an ADL model).
    """
    listed = set(COMMON_SETTINGS).union(*METHOD_SETTINGS.values())
    fields = {f.name: f for f in dataclasses.fields(config)}
    unknown = sorted(set(fields) - listed)
    if unknown:
        raise ValueError(
            "Expected every ModelConfig setting to be read by the network "
            "builder (models/network.py: COMMON_SETTINGS, METHOD_SETTINGS). "
            f"Received unread settings: {unknown}"
        )
    used = set(COMMON_SETTINGS) | set(METHOD_SETTINGS[config.method])
    for name in sorted(listed - used):
        value = getattr(config, name)
        if value != fields[name].default:
            raise ValueError(
                f"Expected only the settings of method={config.method!r} "
                f"to differ from their defaults; {name} is not read by it. "
                f"Received: {name}={value!r}"
            )


def attention_arguments(config):
    """The constructor arguments of `config.method`'s attention layer.

    `drop_threshold=None` resolves to the protocol's gamma_d. The forward
    mask is ADL's `"drop"` for ADL and for ICL without background drop
    (`use_background_drop=False`). CAM has no attention layer: `{}`.
    """
    if config.method == "cam":
        return {}
    arguments = {
        "drop_rate": config.drop_rate,
        "drop_threshold": config.resolved_drop_threshold(),
    }
    if config.method == "adl":
        arguments["forward_mask"] = "drop"
        return arguments
    forward_mask = config.forward_mask
    if not config.use_background_drop:
        forward_mask = "drop"
    arguments.update(
        bg_threshold=config.bg_threshold,
        use_non_local=config.use_non_local,
        non_local_sub_sample=config.non_local_sub_sample,
        non_local_reduction=config.non_local_reduction,
        attention_source=config.attention_source,
        mask_mode=config.mask_mode,
        forward_mask=forward_mask,
        pooled_feature=config.pooled_feature,
    )
    return arguments


def attention_layer(config, position, index, seed=None):
    """The layer `attention_<position>` of `config.method` (None: CAM)."""
    layer_class = ATTENTION_LAYERS[config.method]
    if layer_class is None:
        return None
    return layer_class(
        seed=None if seed is None else seed + index,
        name=f"attention_{position}",
        **attention_arguments(config),
    )


def build_network(config, image_size, seed=None, layout="keras"):
    """Builds the functional network of a `WSOLModel`.

    Args:
        config: `ModelConfig` (`weights` is not read here).
        image_size: int, square input side.
        seed: int or None, base seed of the attention layers.
        layout: the backbone's weight layout (`backbones.LAYOUTS`).

    Returns:
        `keras.Model` named "network" mapping float32 images
        `[B, S, S, 3]` to a dict: `"logits"` (float32 `[B, K]`), and
        `"features"` (the CAM feature map, VGG16 / ResNet50) or
        `"class_maps"` (float32 output of the 1x1 conv `SPG_A4`,
        InceptionV3); for ICL, per block position `p`: `"attention_p"`
        (float32 `[B, h, w, 1]`), `"z_dfg_p"`, `"z_fg_p"`, `"z_bg_p"`
        (float32 `[B, C]`) and `"valid_p"` (float32 `[B]`).
    """
    check_settings(config)
    architecture = config.architecture
    method = config.method
    positions = backbones.block_positions(architecture, method)
    inputs = keras.Input((image_size, image_size, 3), name="images")
    outputs = {}

    def insert_fn(position, x):
        index = positions.index(position)
        layer = attention_layer(config, position, index, seed)
        if layer is None:
            return x
        block = layer(x)
        if not isinstance(block, dict):  # ADL: the features only
            return block
        for key in ICL_OUTPUTS:
            outputs[f"{key}_{position}"] = block[key]
        return block["features"]

    features = backbones.build_backbone(
        architecture,
        inputs,
        insert_fn=insert_fn,
        large_feature_map=config.large_feature_map,
        positions=positions,
        layout=layout,
        head_dropout=backbones.head_dropout_rate(architecture, method),
        width_multiplier=config.width_multiplier,
    )
    classifier = backbones.CLASSIFIER_NAMES[architecture]
    num_classes = config.num_classes
    gap = keras.layers.GlobalAveragePooling2D(dtype="float32", name="gap")
    # The head runs in float32 under any policy: it feeds the losses.
    if backbones.CAM_KIND[architecture] == "conv":
        maps = keras.layers.Conv2D(
            num_classes, 1, dtype="float32", name=classifier
        )(features)
        outputs["class_maps"] = maps
        outputs[OUTPUT_LOGITS] = gap(maps)
    else:
        # wsolevaluation `initialize_weights`: Linear ~ N(0, 0.01), b = 0.
        dense = keras.layers.Dense(
            num_classes,
            kernel_initializer=keras.initializers.RandomNormal(0.0, 0.01),
            dtype="float32",
            name=classifier,
        )
        outputs["features"] = features
        outputs[OUTPUT_LOGITS] = dense(gap(features))
    return keras.Model(inputs, outputs, name="network")
