"""The training objective of WSOLModel: L_cls + ca * L_ca + fc * L_fc."""

import keras
from keras import ops

from wsol_tf import backbones
from wsol_tf import defaults
from wsol_tf.config import LossConfig
from wsol_tf.losses import consistency_loss
from wsol_tf.losses import nt_xent
from wsol_tf.losses import triplet_loss
from wsol_tf.serialization import register


@register
class WSOLObjective:
    """The loss of a `WSOLModel`, built from a `LossConfig`.

    - `cls_loss`: softmax cross-entropy of the GAP logits.
    - `ca_loss` (ICL): triplet or NT-Xent on `(z_dfg, z_fg, z_bg)`, mean
      over the samples whose three masks are non-empty, averaged over the
      block positions (`loss_positions="all"`) or taken at the last one.
    - `valid_fraction`: diagnostic, fraction of samples kept by L_ca.
    - `fc_loss` (ICL): consistency of the earlier blocks' attention maps
      with the stop-gradient last one.
    - `total_loss = cls_loss + ca_weight * ca_loss + fc_weight * fc_loss`.

    `contrastive="none"` or a zero weight removes a term (and its entry).

    Args:
        loss_config: `LossConfig` (or its dict); None: `LossConfig()`.
        method: `"cam"`, `"adl"` or `"icl"`.
        positions: the backbone's block positions, early to last.
        bg_threshold: float, gamma_bg of the background consistency mode.
        loss_positions: `"all"` or `"last"`, where L_ca is applied.

    Call arguments:
        outputs: the inner network's outputs dict (see `WSOLModel`).
        labels: int tensor `[B]`.

    Returns:
        dict of float32 scalars (per-replica means) keyed by `terms`.

    Example:
    >>> objective = WSOLObjective.for_model(
    ...     ModelConfig(architecture="vgg16"), LossConfig(fc_weight=0.0))
    >>> objective.terms
    ('total_loss', 'cls_loss', 'ca_loss', 'valid_fraction')
    >>> model.compile(optimizer=..., objective=objective)
    """

    def __init__(
        self,
        loss_config=None,
        method="icl",
        positions=(),
        bg_threshold=defaults.BG_THRESHOLD,
        loss_positions=defaults.LOSS_POSITION,
    ):
        if loss_config is None:
            loss_config = LossConfig()
        elif isinstance(loss_config, dict):
            loss_config = LossConfig.from_dict(loss_config)
        loss_config.validate()
        self.loss_config = loss_config
        self.method = method
        self.positions = tuple(positions)
        self.bg_threshold = bg_threshold
        self.loss_positions = loss_positions
        terms = ["total_loss", "cls_loss"]
        if method == "icl":
            if loss_config.contrastive != "none" and loss_config.ca_weight > 0:
                terms += ["ca_loss", "valid_fraction"]
            if loss_config.fc_weight > 0:
                terms.append("fc_loss")
            if len(terms) > 2 and not self.positions:
                raise ValueError(
                    "The ICL objective needs the backbone's block positions."
                    f" Received: positions={positions!r}"
                )
        self.terms = tuple(terms)

    @classmethod
    def for_model(cls, model_config, loss_config=None):
        """The objective of the model built from `model_config`."""
        return cls(
            loss_config,
            method=model_config.method,
            positions=backbones.BLOCK_POSITIONS[model_config.architecture],
            bg_threshold=model_config.bg_threshold,
            loss_positions=model_config.loss_positions,
        )

    def __call__(self, outputs, labels):
        config = self.loss_config
        logits = ops.cast(outputs["logits"], "float32")
        cls_loss = ops.mean(
            keras.losses.sparse_categorical_crossentropy(
                labels, logits, from_logits=True
            )
        )
        losses = {"cls_loss": cls_loss}
        total = cls_loss
        if "ca_loss" in self.terms:
            losses.update(self._contrastive(outputs))
            total = total + config.ca_weight * losses["ca_loss"]
        if "fc_loss" in self.terms:
            maps = [outputs[f"attention_{p}"] for p in self.positions]
            losses["fc_loss"] = consistency_loss(
                maps[:-1],
                maps[-1],
                distance=config.consistency_distance,
                mode=config.consistency_mode,
                bg_threshold=self.bg_threshold,
            )
            total = total + config.fc_weight * losses["fc_loss"]
        losses["total_loss"] = total
        return losses

    def _contrastive(self, outputs):
        config = self.loss_config
        used = self.positions
        if self.loss_positions == "last":
            used = used[-1:]
        values, valid_means = [], []
        for position in used:
            anchor = outputs[f"z_dfg_{position}"]
            positive = outputs[f"z_fg_{position}"]
            negative = outputs[f"z_bg_{position}"]
            valid = outputs[f"valid_{position}"]
            if config.contrastive == "triplet":
                value = triplet_loss(
                    anchor,
                    positive,
                    negative,
                    margin=config.margin,
                    normalize=config.normalize_embeddings,
                    valid=valid,
                )
            else:
                value = nt_xent(
                    anchor,
                    positive,
                    negative,
                    temperature=config.temperature,
                    valid=valid,
                )
            values.append(value)
            valid_means.append(ops.mean(ops.cast(valid, "float32")))
        return {
            "ca_loss": ops.mean(ops.stack(values)),
            "valid_fraction": ops.mean(ops.stack(valid_means)),
        }

    def get_config(self):
        return {
            "loss_config": self.loss_config.to_dict(),
            "method": self.method,
            "positions": list(self.positions),
            "bg_threshold": self.bg_threshold,
            "loss_positions": self.loss_positions,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"WSOLObjective({self.get_config()!r})"
