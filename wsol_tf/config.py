"""Frozen experiment configuration: data, model, loss, training, evaluation.

Every setting is declared once, as a dataclass field built by `setting()`:
its default, its choices or range, and its help text. From that
declaration come the validation run on construction (`__post_init__`)
and the absl flags of the tools (`wsol_tf/cli/config_flags.py`). The method's
settings take their defaults, choices and ranges from `wsol_tf.defaults`,
the constants the layers and losses use too. Settings the paper leaves open
(NOT FOUND / INFERRED in the spec) carry the documented default. The
library only reads these dataclasses, never `FLAGS`.

Two concepts are needed by two sections: the number of classes (data:
label checks; model: the classifier) and the seed (data order; weights and
dropout). Each is one setting (`DataConfig.num_classes`,
`TrainConfig.seed`, one flag each); the other section's field is declared
with `same_as()` and `ExperimentConfig` keeps the two equal.
"""

import dataclasses
import json
from typing import Optional
from typing import Tuple

from wsol_tf import defaults
from wsol_tf.settings import ConfigBase
from wsol_tf.settings import link_mirrors
from wsol_tf.settings import same_as
from wsol_tf.settings import setting

ARCHITECTURES = ("vgg16", "resnet50", "inceptionv3")
METHODS = ("cam", "adl", "icl")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
NORMALIZATIONS = ("auto", "imagenet", "caffe", "tf", "none")
# The protocol's input (torchvision mean / std on RGB in [0, 1]): what
# "auto" means when no weights decide (random initialisation).
PROTOCOL_NORMALIZATION = "imagenet"


@dataclasses.dataclass(frozen=True)
class TrainConfig(ConfigBase):
    """Optimisation (wsolevaluation protocol defaults; ICL's NOT FOUND)."""

    model_dir: str = setting(
        "",
        "Output directory: checkpoints, backup, logs, config.json, metrics, "
        "visualizations, saved_model.",
        affects_result=False,
    )
    epochs: int = setting(40, "Training epochs.", low=1)
    steps_per_epoch: int = setting(
        0, "Steps per epoch (0: one pass over the train split).", low=0
    )
    learning_rate: float = setting(
        0.01,
        "Base learning rate (pretrained feature layers).",
        low=0,
        low_open=True,
    )
    lr_classifier_ratio: float = setting(
        10.0, "Learning-rate multiplier of the new layers.", low=0
    )
    lr_decay_epochs: int = setting(
        30,
        "Multiply the learning rate by lr_decay_factor every this many epochs.",
        low=1,
    )
    lr_decay_factor: float = setting(0.1, "Step-decay factor.", low=0)
    momentum: float = setting(0.9, "SGD momentum.", low=0)
    nesterov: bool = setting(True, "Nesterov momentum.")
    weight_decay: float = setting(
        1e-4, "Weight decay (coupled L2, as PyTorch SGD).", low=0
    )
    precision: str = setting(
        "auto",
        "Dtype policy: auto (mixed_float16 on a GPU; on CPU mixed_bfloat16 "
        "where it has native bfloat16, avx512_bf16 or amx_bf16, else "
        "float32), float32, mixed_float16 or mixed_bfloat16.",
        choices=PRECISIONS,
    )
    strategy: str = setting(
        "default",
        "tf.distribute strategy: default, mirrored, multi_worker (TF_CONFIG) "
        "or tpu.",
        choices=STRATEGIES,
    )
    tpu_address: str = setting(
        "",
        "TPU name or grpc:// address for --strategy=tpu.",
        affects_result=False,
    )
    seed: int = setting(
        0, "Random seed: data order, initialisation and dropout draws."
    )
    eval_every_epochs: int = setting(
        1,
        "Evaluate the val split every N epochs (0: never).",
        low=0,
        affects_result=False,
    )
    export: bool = setting(
        True,
        "Export a SavedModel to <model_dir>/saved_model at the end.",
        affects_result=False,
    )
    visualize: bool = setting(
        True,
        "Write CAM grids and the BoxAcc curve at the end.",
        affects_result=False,
    )
    overwrite: bool = setting(
        False,
        "Start over in a model_dir that holds a run: move that run aside "
        "to <model_dir>.old-<time> first. Without it, a model_dir whose "
        "config.json records other result-changing settings is refused.",
        affects_result=False,
    )


@dataclasses.dataclass(frozen=True)
class DataConfig(ConfigBase):
    """Where the dataset lives and how images are fed.

    `metadata_root` holds `<split>/{image_ids,class_labels,image_sizes,
    localization}.txt` (wsolevaluation layout; empty for cub, ilsvrc and
    openimages: the copy shipped in `wsol_tf/metadata/`);
    `data_root` is the directory image ids are relative to. Empty
    `data_root` with dataset_name "synthetic" means: generate (once) the
    embedded synthetic dataset into `cache_dir` and use it.
    """

    dataset_name: str = setting(
        "synthetic", "Dataset: synthetic, cub, ilsvrc or openimages."
    )
    data_root: str = setting(
        "",
        "Directory the image ids are relative to; empty with "
        "dataset_name=synthetic: generate the embedded synthetic set.",
        affects_result=False,
    )
    metadata_root: str = setting(
        "",
        "wsolevaluation metadata directory holding <split>/{image_ids,"
        "class_labels,image_sizes,localization}.txt ('' with cub, ilsvrc "
        "or openimages -> wsolevaluation's, shipped in the package).",
        affects_result=False,
    )
    mask_metadata_root: str = setting(
        "",
        "Metadata with OpenImages-style masks for PxAP at evaluation "
        "('' -> none).",
        affects_result=False,
    )
    cache_dir: str = setting(
        "",
        "Where the synthetic set is generated ('' -> $WSOL_TF_CACHE or "
        "~/.cache/wsol_tf).",
        affects_result=False,
    )
    num_classes: Optional[int] = setting(
        None,
        "Number of classes: label range and classifier width (unset: max "
        "train label + 1).",
        low=1,
    )
    train_split: str = setting(
        "train", "Split used for training (train-weaksup)."
    )
    val_split: str = setting(
        "val",
        "Split evaluated every epoch (train-fullsup).",
        affects_result=False,
    )
    test_split: str = setting(
        "test",
        "Split evaluated once at the end (reported numbers).",
        affects_result=False,
    )
    resize_size: int = setting(
        256,
        "Training: squash-resize to this size, then random crop.",
        low="image_size",
    )
    image_size: int = setting(
        224, "Training crop size (network input during training).", low=1
    )
    eval_image_size: int = setting(
        224,
        "Evaluation: squash-resize size; CAMs and GT boxes live in this "
        "frame (protocol: 224).",
        low=1,
        affects_result=False,
    )
    normalization: str = setting(
        "auto",
        "Input normalisation: auto (the one the --weights were trained "
        "with: caffe for keras.applications VGG16/ResNet50, tf for "
        "InceptionV3, imagenet for torchvision-layout files; imagenet "
        "without weights), imagenet (torchvision mean/std, the protocol), "
        "caffe, tf or none.",
        choices=NORMALIZATIONS,
    )
    batch_size: int = setting(
        32, "Global training batch size (split over replicas).", low=1
    )
    eval_batch_size: int = setting(
        32, "Evaluation batch size.", low=1, affects_result=False
    )
    shuffle_buffer: int = setting(
        2048, "Shuffle buffer size for the training split.", low=0
    )
    cache: bool = setting(
        False, "Cache decoded images in memory.", affects_result=False
    )
    verify_images: bool = setting(
        False,
        "Before training, decode every image of the train, val and test "
        "splits once and report all undecodable ones (file:line) in one "
        "error, instead of stopping when the pipeline meets the first.",
        affects_result=False,
    )
    num_parallel_calls: int = setting(
        -1,
        "tf.data parallelism (-1: AUTOTUNE).",
        low=-1,
        affects_result=False,
    )
    max_boxes: int = setting(
        0,
        "GT boxes per image after padding (0: max of the split).",
        low=0,
        affects_result=False,
    )
    seed: int = same_as(TrainConfig, "seed")
    # The embedded synthetic generator (dataset_name "synthetic", no
    # data_root).
    synthetic_num_classes: int = setting(
        4,
        "Synthetic set: number of classes.",
    )
    synthetic_train_per_class: int = setting(
        64,
        "Synthetic set: train images per class.",
    )
    synthetic_val_per_class: int = setting(
        8,
        "Synthetic set: val images per class.",
    )
    # 128: on 16 per class (64 images) the test-sampling std of one run's
    # MaxBoxAccV2 was 2.9-3.5 points (bench/split_noise.py), as large as
    # the differences between methods; on 512 images 1.0.
    synthetic_test_per_class: int = setting(
        128,
        "Synthetic set: test images per class.",
    )
    synthetic_image_size: int = setting(
        128,
        "Synthetic set: image side in pixels.",
    )
    synthetic_seed: int = setting(0, "Synthetic set: generator seed.")
    synthetic_head_scale: float = setting(
        1.0,
        "Synthetic set: x the head (part) area (larger: easier to learn from "
        "scratch; <= 3).",
    )
    # Style-specific generator settings: None means the generator's own
    # default (wsol_tf/data/synthetic.py, the one place they live).
    synthetic_body_rate: Optional[float] = setting(
        None,
        "Synthetic 'synthetic' (birds) set: probability that each larger "
        "part (body, wings, tail) shows its class's plumage (unset: 0.9; "
        "0.6: version 1 of the set).",
        low=0,
        high=1,
    )
    synthetic_context_rate: Optional[float] = setting(
        None,
        "Synthetic 'synthetic' (birds) set: probability that the ground "
        "band is the class's own context kind (unset: 0.2).",
        low=0,
        high=1,
    )
    synthetic_class_offset: Optional[int] = setting(
        None,
        "Synthetic 'synthetic' (birds) set: the classes look like "
        "generator classes offset..offset+K-1 (unset: 0); the synthetic "
        "pretraining's source classes are disjoint from the default set's.",
        low=0,
    )
    synthetic_evidence_kinds: Optional[int] = setting(
        None,
        "Synthetic 'synthetic' (birds) set: 1: every class is decided by "
        "its head (unset); 3: by its head, its whole plumage, or both, in "
        "turn (the synthetic pretraining's source).",
        low=1,
        high=3,
    )
    synthetic_evidence_layout: Optional[int] = setting(
        None,
        "Synthetic 'synthetic' (birds) set with 3 evidence kinds: 0: class "
        "k is decided by kind k % 3 (unset); 1: every head colour is "
        "decided in each of the three ways.",
        low=0,
        high=1,
    )
    synthetic_distractor_heads: Optional[float] = setting(
        None,
        "Synthetic 'synthetic_heads' set: probability of another class's "
        "head in the background (unset: 0.4).",
        low=0,
        high=1,
    )

    def resolved_normalization(self):
        """`normalization`, "auto" read as `PROTOCOL_NORMALIZATION`.

        `training.resolve_experiment` replaces "auto" by what the model's
        weights need; a data pipeline built without a model (no weights
        known) reads it as the protocol's "imagenet".
        """
        if self.normalization == "auto":
            return PROTOCOL_NORMALIZATION
        return self.normalization


@dataclasses.dataclass(frozen=True)
class ModelConfig(ConfigBase):
    """Backbone, method and the attention-module settings.

    Defaults follow docs/method.md; docs/evaluation.md lists the fields
    marked INFERRED / NOT FOUND: choices the paper does not fix.
    """

    architecture: str = setting(
        "resnet50",
        "Backbone (wsolevaluation variants).",
        choices=ARCHITECTURES,
    )
    method: str = setting("icl", "WSOL method.", choices=METHODS)
    num_classes: Optional[int] = same_as(DataConfig, "num_classes")
    weights: Optional[str] = setting(
        None,
        "Backbone weights: unset (random), 'imagenet', 'synthetic' (a CAM "
        "classifier pretrained once on synthetic source classes and cached: "
        "the offline stand-in for ImageNet) or a path to a "
        "keras.applications .h5 / .weights.h5 or wsol_tf weights file "
        "(tools/convert_weights.py).",
        compare_as="file_name",  # a moved install resumes its runs
    )
    large_feature_map: bool = setting(
        False, "28x28 instead of 14x14 final feature map."
    )
    width_multiplier: float = setting(
        1.0,
        "Channel width of the backbone x this (vgg16, resnet50). Below 1: "
        "the small CPU demo backbone (same layers and block positions, no "
        "ImageNet weights); 1 is the published architecture.",
        low=0,
        high=1,
        low_open=True,
    )
    drop_rate: float = setting(
        defaults.DROP_RATE,
        "ADL/ICL: probability of the drop branch per call.",
        **defaults.DROP_RATE_RANGE,
    )
    drop_threshold: Optional[float] = setting(
        None,
        f"ADL/ICL gamma_d (unset: {defaults.DROP_THRESHOLD}, "
        "wsolevaluation's, every backbone).",
        **defaults.DROP_THRESHOLD_RANGE,
    )
    bg_threshold: float = setting(
        defaults.BG_THRESHOLD,
        "ICL gamma_bg: background below this x per-sample max (NOT FOUND).",
        **defaults.BG_THRESHOLD_RANGE,
    )
    use_non_local: bool = setting(
        defaults.USE_NON_LOCAL,
        "ICL: non-local attention blocks (else channel mean).",
    )
    non_local_sub_sample: bool = setting(
        defaults.NON_LOCAL_SUB_SAMPLE,
        "ICL: 2x2 max-pool phi and g in the non-local block.",
    )
    non_local_reduction: int = setting(
        defaults.NON_LOCAL_REDUCTION,
        "ICL: non-local embedding width C' = C / r (INFERRED: 2, Wang et "
        "al.; larger r is cheaper, e.g. on ResNet50).",
        **defaults.NON_LOCAL_REDUCTION_RANGE,
    )
    attention_source: str = setting(
        defaults.ATTENTION_SOURCE,
        "ICL: attention = channel mean of the block output or of the "
        "non-local term.",
        choices=defaults.ATTENTION_SOURCES,
    )
    mask_mode: str = setting(
        defaults.MASK_MODE,
        "ICL: hard or soft (sigmoid) fg/bg pooling masks.",
        choices=defaults.MASK_MODES,
    )
    forward_mask: str = setting(
        "dfg",
        "ICL: dfg (drop background + top region) or ADL's drop mask in the "
        "forward path.",
        choices=defaults.FORWARD_MASKS,
    )
    use_background_drop: bool = setting(
        True, "ICL: drop the background too (False: forward_mask=drop)."
    )
    pooled_feature: str = setting(
        defaults.POOLED_FEATURE,
        "ICL: masked pooling reads the block input or output.",
        choices=defaults.POOLED_FEATURES,
    )
    loss_positions: str = setting(
        defaults.LOSS_POSITION,
        "ICL: contrastive loss at all block positions or the last.",
        choices=defaults.LOSS_POSITIONS,
    )

    def resolved_drop_threshold(self):
        if self.drop_threshold is not None:
            return self.drop_threshold
        return defaults.DROP_THRESHOLD


@dataclasses.dataclass(frozen=True)
class LossConfig(ConfigBase):
    """Loss terms: L = L_cls + ca_weight * L_ca + fc_weight * L_fc (ICL)."""

    contrastive: str = setting(
        "triplet",
        "ICL contrastive attention loss.",
        choices=("triplet", "nt_xent", "none"),
    )
    ca_weight: float = setting(
        1.0,
        "lambda_ca, weight of the contrastive attention loss (NOT FOUND).",
        low=0,
    )
    fc_weight: float = setting(
        1.0,
        "lambda_fc, weight of the foreground consistency loss (NOT "
        "FOUND; 0 disables it).",
        low=0,
    )
    margin: float = setting(
        defaults.MARGIN,
        "Triplet margin (INFERRED: PyTorch default).",
        **defaults.MARGIN_RANGE,
    )
    normalize_embeddings: bool = setting(
        defaults.NORMALIZE_EMBEDDINGS,
        "L2-normalise z_dfg, z_fg, z_bg before the triplet loss.",
    )
    temperature: float = setting(
        defaults.TEMPERATURE,
        "NT-Xent temperature tau.",
        **defaults.TEMPERATURE_RANGE,
    )
    consistency_distance: str = setting(
        defaults.CONSISTENCY_DISTANCE,
        "Foreground consistency distance.",
        choices=defaults.CONSISTENCY_DISTANCES,
    )
    consistency_mode: str = setting(
        defaults.CONSISTENCY_MODE,
        "Foreground consistency: full map or background.",
        choices=defaults.CONSISTENCY_MODES,
    )


@dataclasses.dataclass(frozen=True)
class EvalConfig(ConfigBase):
    """Localization protocol (Choe et al., CVPR 2020; docs/evaluation.md).

    Evaluation only: none of these changes a run's weights
    (`affects_result=False`).
    """

    cam_curve_interval: float = setting(
        0.001,
        "CAM threshold step (protocol, training: 0.001).",
        low=0,
        high=1,
        low_open=True,
        high_open=True,
        affects_result=False,
    )
    multi_contour_eval: bool = setting(
        True,
        "Boxes from all contours (MaxBoxAccV2) instead of the largest.",
        affects_result=False,
    )
    iou_thresholds: Tuple[int, ...] = setting(
        (30, 50, 70),
        "IoU thresholds in percent for MaxBoxAcc.",
        low=0,
        high=100,
        low_open=True,
        affects_result=False,
    )
    loc_threshold: Optional[float] = setting(
        None,
        "CAM threshold of Top-1 / GT-known Loc (unset: the optimal one).",
        low=0,
        high=1,
        high_open=True,
        affects_result=False,
    )
    loc_multi_contour: bool = setting(
        False,
        "GT-known / Top-1 Loc: boxes from all contours (else the largest).",
        affects_result=False,
    )
    pxap: bool = setting(
        True, "Compute PxAP when the split has masks.", affects_result=False
    )


_SECTION_OF = {
    DataConfig: "data",
    ModelConfig: "model",
    LossConfig: "loss",
    TrainConfig: "train",
    EvalConfig: "eval",
}


@dataclasses.dataclass(frozen=True)
class ExperimentConfig(ConfigBase):
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)

    _PARTS = {section: cls for cls, section in _SECTION_OF.items()}

    def __post_init__(self):
        link_mirrors(self, _SECTION_OF)

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
