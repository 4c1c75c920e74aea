"""The training objective of WSOLModel: L_cls + ca * L_ca + fc * L_fc."""

import keras
from keras import ops

from wsol_tf.losses import consistency_loss
from wsol_tf.losses import nt_xent
from wsol_tf.losses import triplet_loss


def loss_terms(method, loss_args):
    """Names of the logged terms (one Mean tracker each), in order."""
    terms = ["total_loss", "cls_loss"]
    if method == "icl":
        if loss_args["contrastive"] != "none" and loss_args["ca_weight"] > 0:
            terms += ["ca_loss", "valid_fraction"]
        if loss_args["fc_weight"] > 0:
            terms.append("fc_loss")
    return terms


def compute_losses(outputs, labels, method, positions, loss_args, model_args):
    """Loss dict of one batch, every entry a float32 per-replica mean.

    - `cls_loss`: softmax cross-entropy of the GAP logits.
    - `ca_loss` (ICL): triplet or NT-Xent on `(z_dfg, z_fg, z_bg)`, mean
      over the samples whose three masks are non-empty, averaged over the
      block positions (`loss_positions="all"`) or taken at the last one.
    - `valid_fraction`: diagnostic, fraction of samples kept by L_ca.
    - `fc_loss` (ICL): consistency of the earlier blocks' attention maps
      with the stop-gradient last one.
    - `total_loss = cls_loss + ca_weight * ca_loss + fc_weight * fc_loss`.

    Args:
        outputs: the inner network's outputs dict (see `WSOLModel`).
        labels: int tensor `[B]`.
        method: `"cam"`, `"adl"` or `"icl"`.
        positions: the backbone's block positions, early to last.
        loss_args: dict of the `LossConfig` fields.
        model_args: dict of the `ModelConfig` fields.

    Returns:
        dict of float32 scalars keyed by `loss_terms(method, loss_args)`.
    """
    terms = loss_terms(method, loss_args)
    logits = ops.cast(outputs["logits"], "float32")
    cls_loss = ops.mean(
        keras.losses.sparse_categorical_crossentropy(
            labels, logits, from_logits=True
        )
    )
    losses = {"cls_loss": cls_loss}
    total = cls_loss
    if "ca_loss" in terms:
        used = positions
        if model_args["loss_positions"] == "last":
            used = positions[-1:]
        values, valid_means = [], []
        for position in used:
            anchor = outputs[f"z_dfg_{position}"]
            positive = outputs[f"z_fg_{position}"]
            negative = outputs[f"z_bg_{position}"]
            valid = outputs[f"valid_{position}"]
            if loss_args["contrastive"] == "triplet":
                value = triplet_loss(
                    anchor,
                    positive,
                    negative,
                    margin=loss_args["margin"],
                    normalize=loss_args["normalize_embeddings"],
                    valid=valid,
                )
            else:
                value = nt_xent(
                    anchor,
                    positive,
                    negative,
                    temperature=loss_args["temperature"],
                    valid=valid,
                )
            values.append(value)
            valid_means.append(ops.mean(ops.cast(valid, "float32")))
        losses["ca_loss"] = ops.mean(ops.stack(values))
        losses["valid_fraction"] = ops.mean(ops.stack(valid_means))
        total = total + loss_args["ca_weight"] * losses["ca_loss"]
    if "fc_loss" in terms:
        maps = [outputs[f"attention_{p}"] for p in positions]
        losses["fc_loss"] = consistency_loss(
            maps[:-1],
            maps[-1],
            distance=loss_args["consistency_distance"],
            mode=loss_args["consistency_mode"],
            bg_threshold=model_args["bg_threshold"],
        )
        total = total + loss_args["fc_weight"] * losses["fc_loss"]
    losses["total_loss"] = total
    return losses
