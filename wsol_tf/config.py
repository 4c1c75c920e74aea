"""Frozen experiment configuration: data, model, loss, training, evaluation.

Every setting the paper leaves open (tagged NOT FOUND / INFERRED in the spec)
is a field here with the documented default. Scripts turn absl flags into an
`ExperimentConfig` (see `wsol_tf/cli/common_flags.py`); the library only reads
these dataclasses, never `FLAGS`.
"""

import dataclasses
import json
from typing import Optional
from typing import Tuple

ARCHITECTURES = ("vgg16", "resnet50", "inceptionv3")
METHODS = ("cam", "adl", "icl")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
NORMALIZATIONS = ("imagenet", "caffe", "tf", "none")

# ADL drop thresholds (gamma_d) used by the reference code per backbone.
DEFAULT_DROP_THRESHOLD = {"vgg16": 0.9, "inceptionv3": 0.9, "resnet50": 0.9}


def _check(cond, name, value, expected):
    if not cond:
        raise ValueError(
            f"Invalid config value: expected {name} to be {expected}. "
            f"Received: {name}={value!r}"
        )


class _Base:
    """Shared to_dict / from_dict helpers for the frozen dataclasses."""

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(
                f"Unknown {cls.__name__} keys {unknown}; expected a subset "
                f"of {sorted(names)}."
            )
        kwargs = {}
        for k, v in d.items():
            if isinstance(v, list):
                v = tuple(v)
            kwargs[k] = v
        obj = cls(**kwargs)
        obj.validate()
        return obj

    def replace(self, **changes):
        obj = dataclasses.replace(self, **changes)
        obj.validate()
        return obj


@dataclasses.dataclass(frozen=True)
class DataConfig(_Base):
    """Where the dataset lives and how images are fed.

    `metadata_root` holds `<split>/{image_ids,class_labels,image_sizes,
    localization}.txt` (wsolevaluation layout, e.g. `metadata/CUB`);
    `data_root` is the directory image ids are relative to. Empty
    `data_root` with dataset_name "synthetic" means: generate (once) the
    embedded synthetic dataset into `cache_dir` and use it.
    """

    dataset_name: str = "synthetic"
    data_root: str = ""
    metadata_root: str = ""
    mask_metadata_root: str = ""  # OpenImages-style masks for PxAP at eval
    cache_dir: str = ""  # "" -> ~/.cache/wsol_tf (or $WSOL_TF_CACHE)
    num_classes: Optional[int] = None  # None -> inferred from train labels
    train_split: str = "train"
    val_split: str = "val"
    test_split: str = "test"
    resize_size: int = 256  # train: resize to this square, then crop
    image_size: int = 224  # train crop size
    eval_image_size: int = 224  # eval: squash-resize to this square
    normalization: str = "imagenet"  # mean/std of torchvision (protocol)
    batch_size: int = 32
    eval_batch_size: int = 32
    shuffle_buffer: int = 2048
    cache: bool = False
    num_parallel_calls: int = -1  # -1 -> tf.data.AUTOTUNE
    max_boxes: int = 0  # 0 -> max over the split
    seed: int = 0
    # Synthetic dataset generator settings (used when dataset_name is
    # "synthetic" and data_root is empty).
    synthetic_num_classes: int = 4
    synthetic_train_per_class: int = 64
    synthetic_val_per_class: int = 8
    synthetic_test_per_class: int = 16
    synthetic_image_size: int = 128
    synthetic_seed: int = 0
    synthetic_head_scale: float = 1.0  # x the head (part) area bounds
    synthetic_distractor_heads: float = 0.4  # P(other class's head in bg)

    def validate(self):
        _check(self.image_size > 0, "image_size", self.image_size, "> 0")
        _check(
            self.resize_size >= self.image_size,
            "resize_size",
            self.resize_size,
            f">= image_size ({self.image_size})",
        )
        _check(
            self.eval_image_size > 0,
            "eval_image_size",
            self.eval_image_size,
            "> 0",
        )
        _check(
            self.normalization in NORMALIZATIONS,
            "normalization",
            self.normalization,
            f"one of {NORMALIZATIONS}",
        )
        _check(self.batch_size > 0, "batch_size", self.batch_size, "> 0")
        _check(
            self.eval_batch_size > 0,
            "eval_batch_size",
            self.eval_batch_size,
            "> 0",
        )
        _check(
            self.num_classes is None or self.num_classes > 0,
            "num_classes",
            self.num_classes,
            "None or > 0",
        )
        _check(self.max_boxes >= 0, "max_boxes", self.max_boxes, ">= 0")


@dataclasses.dataclass(frozen=True)
class ModelConfig(_Base):
    """Backbone, method and the attention-module settings.

    Defaults follow `spec/method.md`; fields marked INFERRED / NOT FOUND
    there are choices the paper does not fix.
    """

    architecture: str = "resnet50"
    method: str = "icl"
    num_classes: int = 200
    weights: Optional[str] = None  # None | "imagenet" | path to a file
    large_feature_map: bool = False
    # Attention dropout (ADL and ICL).
    drop_rate: float = 0.75  # probability of the drop branch per call
    drop_threshold: Optional[float] = None  # gamma_d; None -> per backbone
    # ICL only.
    bg_threshold: float = 0.2  # gamma_bg (NOT FOUND; guess)
    use_non_local: bool = True
    non_local_sub_sample: bool = True
    # C' = C / r in the non-local blocks (INFERRED: 2, Wang et al.).
    non_local_reduction: int = 2
    attention_source: str = "output"  # mean_c of: output z | non_local W(y)
    mask_mode: str = "hard"  # hard | soft (fg/bg masks for pooling)
    forward_mask: str = "dfg"  # dfg: drop bg + top region | drop: ADL's
    use_background_drop: bool = True  # False -> forward mask is ADL's drop
    pooled_feature: str = "input"  # which map masked pooling reads
    loss_positions: str = "all"  # all | last (where L_ca is applied)

    def resolved_drop_threshold(self):
        if self.drop_threshold is not None:
            return self.drop_threshold
        return DEFAULT_DROP_THRESHOLD[self.architecture]

    def validate(self):
        _check(
            self.architecture in ARCHITECTURES,
            "architecture",
            self.architecture,
            f"one of {ARCHITECTURES}",
        )
        _check(
            self.method in METHODS, "method", self.method, f"one of {METHODS}"
        )
        _check(self.num_classes > 0, "num_classes", self.num_classes, "> 0")
        _check(
            0.0 <= self.drop_rate <= 1.0,
            "drop_rate",
            self.drop_rate,
            "in [0, 1]",
        )
        _check(
            self.drop_threshold is None or 0.0 < self.drop_threshold <= 1.0,
            "drop_threshold",
            self.drop_threshold,
            "None or in (0, 1]",
        )
        _check(
            0.0 <= self.bg_threshold < 1.0,
            "bg_threshold",
            self.bg_threshold,
            "in [0, 1)",
        )
        _check(
            isinstance(self.non_local_reduction, int)
            and not isinstance(self.non_local_reduction, bool)
            and self.non_local_reduction >= 1,
            "non_local_reduction",
            self.non_local_reduction,
            "an integer >= 1",
        )
        _check(
            self.attention_source in ("output", "non_local"),
            "attention_source",
            self.attention_source,
            "'output' or 'non_local'",
        )
        _check(
            self.mask_mode in ("hard", "soft"),
            "mask_mode",
            self.mask_mode,
            "'hard' or 'soft'",
        )
        _check(
            self.forward_mask in ("dfg", "drop"),
            "forward_mask",
            self.forward_mask,
            "'dfg' or 'drop'",
        )
        _check(
            self.pooled_feature in ("input", "output"),
            "pooled_feature",
            self.pooled_feature,
            "'input' or 'output'",
        )
        _check(
            self.loss_positions in ("all", "last"),
            "loss_positions",
            self.loss_positions,
            "'all' or 'last'",
        )


@dataclasses.dataclass(frozen=True)
class LossConfig(_Base):
    """Loss terms: L = L_cls + ca_weight * L_ca + fc_weight * L_fc (ICL)."""

    contrastive: str = "triplet"  # triplet | nt_xent | none
    ca_weight: float = 1.0  # lambda_ca (NOT FOUND)
    fc_weight: float = 1.0  # lambda_fc (NOT FOUND); 0 disables L_fc
    margin: float = 1.0  # triplet margin (INFERRED: PyTorch default)
    normalize_embeddings: bool = False  # L2-normalise z before triplet
    temperature: float = 0.07  # NT-Xent tau (SUPP)
    consistency_distance: str = "l1"  # l1 | l2
    consistency_mode: str = "full"  # full | background

    def validate(self):
        _check(
            self.contrastive in ("triplet", "nt_xent", "none"),
            "contrastive",
            self.contrastive,
            "'triplet', 'nt_xent' or 'none'",
        )
        _check(self.ca_weight >= 0, "ca_weight", self.ca_weight, ">= 0")
        _check(self.fc_weight >= 0, "fc_weight", self.fc_weight, ">= 0")
        _check(self.margin >= 0, "margin", self.margin, ">= 0")
        _check(self.temperature > 0, "temperature", self.temperature, "> 0")
        _check(
            self.consistency_distance in ("l1", "l2"),
            "consistency_distance",
            self.consistency_distance,
            "'l1' or 'l2'",
        )
        _check(
            self.consistency_mode in ("full", "background"),
            "consistency_mode",
            self.consistency_mode,
            "'full' or 'background'",
        )


@dataclasses.dataclass(frozen=True)
class TrainConfig(_Base):
    """Optimisation (wsolevaluation protocol defaults; ICL's NOT FOUND)."""

    model_dir: str = ""
    epochs: int = 40
    steps_per_epoch: int = 0  # 0 -> one pass over the training split
    learning_rate: float = 0.01
    lr_classifier_ratio: float = 10.0  # new layers learn 10x faster
    lr_decay_epochs: int = 30  # step decay every N epochs
    lr_decay_factor: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4  # coupled L2, as PyTorch SGD
    precision: str = "auto"
    strategy: str = "default"
    tpu_address: str = ""
    seed: int = 0
    eval_every_epochs: int = 1
    export: bool = True
    visualize: bool = True

    def validate(self):
        _check(self.epochs > 0, "epochs", self.epochs, "> 0")
        _check(
            self.steps_per_epoch >= 0,
            "steps_per_epoch",
            self.steps_per_epoch,
            ">= 0",
        )
        _check(
            self.learning_rate > 0,
            "learning_rate",
            self.learning_rate,
            "> 0",
        )
        _check(
            self.lr_decay_epochs > 0,
            "lr_decay_epochs",
            self.lr_decay_epochs,
            "> 0",
        )
        _check(
            self.precision in PRECISIONS,
            "precision",
            self.precision,
            f"one of {PRECISIONS}",
        )
        _check(
            self.strategy in STRATEGIES,
            "strategy",
            self.strategy,
            f"one of {STRATEGIES}",
        )
        _check(
            self.eval_every_epochs >= 0,
            "eval_every_epochs",
            self.eval_every_epochs,
            ">= 0",
        )


@dataclasses.dataclass(frozen=True)
class EvalConfig(_Base):
    """Localization protocol (Choe et al., CVPR 2020; spec section 4)."""

    cam_curve_interval: float = 0.001  # training default of wsolevaluation
    multi_contour_eval: bool = True  # True -> MaxBoxAccV2
    iou_thresholds: Tuple[int, ...] = (30, 50, 70)
    loc_threshold: Optional[float] = None  # Top-1 / GT-known: None=optimal
    loc_multi_contour: bool = False  # GT-known / Top-1: largest contour
    pxap: bool = True  # compute PxAP when the split has masks

    def validate(self):
        _check(
            0 < self.cam_curve_interval < 1,
            "cam_curve_interval",
            self.cam_curve_interval,
            "in (0, 1)",
        )
        _check(
            len(self.iou_thresholds) > 0
            and all(0 < t <= 100 for t in self.iou_thresholds),
            "iou_thresholds",
            self.iou_thresholds,
            "non-empty ints in (0, 100]",
        )
        _check(
            self.loc_threshold is None or 0 <= self.loc_threshold < 1,
            "loc_threshold",
            self.loc_threshold,
            "None or in [0, 1)",
        )


@dataclasses.dataclass(frozen=True)
class ExperimentConfig(_Base):
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)

    _PARTS = {
        "data": DataConfig,
        "model": ModelConfig,
        "loss": LossConfig,
        "train": TrainConfig,
        "eval": EvalConfig,
    }

    def validate(self):
        for name in self._PARTS:
            getattr(self, name).validate()

    @classmethod
    def from_dict(cls, d):
        unknown = sorted(set(d) - set(cls._PARTS))
        if unknown:
            raise ValueError(
                f"Unknown ExperimentConfig sections {unknown}; expected "
                f"{sorted(cls._PARTS)}."
            )
        parts = {
            k: part.from_dict(d.get(k, {})) for k, part in cls._PARTS.items()
        }
        return cls(**parts)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))
