"""The inner functional network of WSOLModel: backbone, blocks, head."""

import inspect

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


def layer_settings(config):
    """The `ModelConfig` as a dict of the values the layers receive.

    `drop_threshold=None` resolves to the backbone's ADL value, and the
    forward mask is ADL's `"drop"` for ADL and for ICL without background
    drop (`use_background_drop=False`).
    """
    settings = config.to_dict()
    settings["drop_threshold"] = config.resolved_drop_threshold()
    if config.method == "adl" or not config.use_background_drop:
        settings["forward_mask"] = "drop"
    return settings


def layer_kwargs(layer_class, config):
    """The config fields that `layer_class`'s constructor takes, by name.

    A new `ModelConfig` field reaches a layer when its constructor has an
    argument of the same name: nothing here lists field names.
    """
    parameters = inspect.signature(layer_class.__init__).parameters
    settings = layer_settings(config)
    return {k: v for k, v in settings.items() if k in parameters}


def attention_layer(config, position, index, seed=None):
    """The layer `attention_<position>` of `config.method` (None: CAM)."""
    layer_class = ATTENTION_LAYERS[config.method]
    if layer_class is None:
        return None
    return layer_class(
        seed=None if seed is None else seed + index,
        name=f"attention_{position}",
        **layer_kwargs(layer_class, config),
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
