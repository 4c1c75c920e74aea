"""The inner functional network of WSOLModel: backbone, blocks, head."""

import keras

from wsol_tf import backbones
from wsol_tf.config import DEFAULT_DROP_THRESHOLD
from wsol_tf.layers import AttentionDropout
from wsol_tf.layers import ICLAttentionBlock

OUTPUT_LOGITS = "logits"
ICL_OUTPUTS = ("attention", "z_dfg", "z_fg", "z_bg", "valid")


def attention_layer(position, index, seed=None, **args):
    """The layer `attention_<position>` of `args["method"]` (None: CAM)."""
    method = args["method"]
    if method == "cam":
        return None
    name = f"attention_{position}"
    seed = None if seed is None else seed + index
    threshold = args["drop_threshold"]
    if threshold is None:
        threshold = DEFAULT_DROP_THRESHOLD[args["architecture"]]
    if method == "adl":
        return AttentionDropout(
            args["drop_rate"], threshold, seed=seed, name=name
        )
    forward = args["forward_mask"] if args["use_background_drop"] else "drop"
    return ICLAttentionBlock(
        drop_rate=args["drop_rate"],
        drop_threshold=threshold,
        bg_threshold=args["bg_threshold"],
        use_non_local=args["use_non_local"],
        non_local_sub_sample=args["non_local_sub_sample"],
        non_local_reduction=args["non_local_reduction"],
        attention_source=args["attention_source"],
        mask_mode=args["mask_mode"],
        forward_mask=forward,
        pooled_feature=args["pooled_feature"],
        seed=seed,
        name=name,
    )


def build_network(image_size, seed=None, layout="keras", **args):
    """Builds the functional network of a `WSOLModel`.

    Args:
        image_size: int, square input side.
        seed: int or None, base seed of the attention layers.
        layout: the backbone's weight layout (`backbones.LAYOUTS`).
        **args: the `ModelConfig` fields except `weights`.

    Returns:
        `keras.Model` named "network" mapping float32 images
        `[B, S, S, 3]` to a dict: `"logits"` (float32 `[B, K]`), and
        `"features"` (the CAM feature map, VGG16 / ResNet50) or
        `"class_maps"` (float32 output of the 1x1 conv `SPG_A4`,
        InceptionV3); for ICL, per block position `p`: `"attention_p"`
        (float32 `[B, h, w, 1]`), `"z_dfg_p"`, `"z_fg_p"`, `"z_bg_p"`
        (float32 `[B, C]`) and `"valid_p"` (float32 `[B]`).
    """
    architecture = args["architecture"]
    method = args["method"]
    positions = backbones.block_positions(architecture, method)
    inputs = keras.Input((image_size, image_size, 3), name="images")
    outputs = {}

    def insert_fn(position, x):
        layer = attention_layer(
            position, positions.index(position), seed, **args
        )
        if layer is None:
            return x
        if args["method"] == "adl":
            return layer(x)
        block = layer(x)
        for key in ICL_OUTPUTS:
            outputs[f"{key}_{position}"] = block[key]
        return block["features"]

    features = backbones.build_backbone(
        architecture,
        inputs,
        insert_fn=insert_fn,
        large_feature_map=args["large_feature_map"],
        positions=positions,
        layout=layout,
        head_dropout=backbones.head_dropout_rate(architecture, method),
    )
    classifier = backbones.CLASSIFIER_NAMES[architecture]
    num_classes = args["num_classes"]
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
