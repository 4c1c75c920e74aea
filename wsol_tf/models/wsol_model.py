"""WSOLModel: backbone + ADL / ICL attention blocks + CAM head."""

import dataclasses

import keras
import tensorflow as tf
from keras import ops

from wsol_tf import backbones
from wsol_tf.config import LossConfig
from wsol_tf.config import ModelConfig
from wsol_tf.layers import class_activation_maps
from wsol_tf.layers import select_class_maps
from wsol_tf.models.network import OUTPUT_LOGITS
from wsol_tf.models.network import build_network
from wsol_tf.models.objective import WSOLObjective
from wsol_tf.serialization import register

OUTPUT_CAMS = "cams"


@register
class WSOLModel(keras.Model):
    """Weakly supervised localization model: CAM, ADL or ICL.

    The model is the architecture of a `ModelConfig`. The inner functional
    network `self.network` is the wsolevaluation backbone
    (`wsol_tf.backbones`) with a layer `attention_<position>` at each of
    the three block positions (`"adl"`: `AttentionDropout`, `"icl"`:
    `ICLAttentionBlock`, `"cam"`: none) and the head: GAP + `fc` (VGG16 /
    ResNet50) or the 1x1 conv `SPG_A4` + GAP (InceptionV3), both in
    float32. Its outputs dict holds `"logits"`, `"features"` or
    `"class_maps"`, and for ICL, per position `p`: `"attention_p"`
    (float32 `[B, h, w, 1]`), `"z_dfg_p"`, `"z_fg_p"`, `"z_bg_p"` (float32
    `[B, C]`) and `"valid_p"` (float32 `[B]`).

    The loss is the `objective` given to `compile` (a `WSOLObjective`,
    built from a `LossConfig`); `train_step` / `test_step` log one Mean
    per objective term plus `accuracy`. Weight decay and learning-rate
    groups belong to the optimizer (`wsol_tf.optimizers.build_optimizer`).

    Args:
        config: `ModelConfig` (or its dict). `weights` is not loaded here
            (see `build_model`).
        image_size: int, the (square) input side.
        seed: int or None, seeds of the attention layers.
        layout: `"keras"` or `"torchvision"`, the backbone's weight layout
            (`build_model` takes it from the weights).
        **kwargs: `keras.Model` keyword arguments (`name`, `dtype`).

    Call arguments:
        images: float32 `[B, image_size, image_size, 3]` (or a dict with
            `"images"`).
        training: bool.

    Returns:
        dict: `"logits"` float32 `[B, K]`, `"cams"` float32 `[B, h, w, K]`
        (raw class activation maps of all classes).

    Example:
    >>> model = WSOLModel(ModelConfig("resnet50", "icl"), image_size=224)
    >>> model.compile(
    ...     optimizer=wsol_tf.optimizers.build_optimizer(TrainConfig(), model),
    ...     objective=LossConfig(contrastive="triplet"))
    >>> model.fit(train_ds, epochs=1)
    >>> logits, cams = model.compute_cams(images, labels)

    Reference:
    - [Ki et al., In-sample Contrastive Learning and Consistent Attention
        for WSOL, ACCV 2020](https://arxiv.org/abs/2009.12063)
    - [Choe et al., Evaluating WSOL Methods Right, CVPR 2020](
        https://arxiv.org/abs/2001.07437)
    """

    def __init__(self, config, image_size, seed=None, layout="keras", **kwargs):
        super().__init__(**kwargs)
        if isinstance(config, dict):
            config = ModelConfig.from_dict(config)
        if not isinstance(config, ModelConfig):
            raise ValueError(
                "`config` must be a ModelConfig or its dict. "
                f"Received: config={config!r}"
            )
        config.validate()
        if int(image_size) < 1:
            raise ValueError(
                f"`image_size` must be positive. Received: image_size="
                f"{image_size}"
            )
        self._model_config = config
        self.image_size = int(image_size)
        self.seed = seed
        self.layout = backbones.check_layout(layout)
        self.network = self._build_network()
        self.objective = None
        self.trackers = {}
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(
            name="accuracy"
        )
        self.built = True

    @property
    def model_config(self):
        """The `ModelConfig` this model was built from."""
        return self._model_config

    @property
    def architecture(self):
        return self._model_config.architecture

    @property
    def method(self):
        return self._model_config.method

    @property
    def num_classes(self):
        return self._model_config.num_classes

    @property
    def positions(self):
        """The backbone's block positions, early to last."""
        return backbones.block_positions(self.architecture, self.method)

    @property
    def cam_kind(self):
        return backbones.CAM_KIND[self.architecture]

    def _build_network(self):
        # Inner layers follow the model's policy (it differs from the global
        # one only when a saved model is reloaded under another policy).
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(self.dtype_policy)
        try:
            return build_network(
                self._model_config,
                self.image_size,
                seed=self.seed,
                layout=self.layout,
            )
        finally:
            keras.mixed_precision.set_global_policy(previous)

    def call(self, images, training=None):
        if isinstance(images, dict):
            images = images["images"]
        outputs = self.network(images, training=training)
        return {
            OUTPUT_LOGITS: outputs[OUTPUT_LOGITS],
            OUTPUT_CAMS: self._cams(outputs),
        }

    def _cams(self, outputs):
        if self.cam_kind == "conv":
            return ops.cast(outputs["class_maps"], "float32")
        fc = self.network.get_layer(
            backbones.CLASSIFIER_NAMES[self.architecture]
        )
        return class_activation_maps(outputs["features"], fc.kernel)

    def compute_cams(self, images, class_ids=None):
        """Returns `(logits [B, K], cams [B, h, w])`, float32, raw CAMs.

        The CAM is that of `class_ids` (int `[B]`, e.g. the ground truth)
        or of the top-1 predicted class when None; inference mode.
        """
        outputs = self(images, training=False)
        logits = outputs[OUTPUT_LOGITS]
        if class_ids is None:
            class_ids = ops.argmax(logits, axis=-1)
        return logits, select_class_maps(outputs[OUTPUT_CAMS], class_ids)

    def as_float32(self):
        """This model computing in float32: itself, or a float32 copy.

        The test metrics, the visualizations and the SavedModel use it, so
        that the served CAMs are the evaluated ones: under a mixed policy
        (bfloat16 / float16 compute) the CAMs change with the kernels'
        accumulation order (measured on the default run: up to 0.05 of the
        min-max range between eager and SavedModel bfloat16 graphs, one
        image in 64 moving at IoU 70), in float32 by ~1e-6.
        """
        if self.dtype_policy.name == "float32":
            return self
        config = dict(self.get_config())
        config.pop("dtype", None)
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy("float32")
        try:
            return self._copy(config)
        finally:
            keras.mixed_precision.set_global_policy(previous)

    def with_image_size(self, image_size):
        """A copy of this model for another input side, same weights.

        The input size is static (InceptionV3 needs it); use this to run
        a model trained at `image_size` on another evaluation size.
        """
        return self._copy(dict(self.get_config(), image_size=int(image_size)))

    def _copy(self, config):
        """A model built from `config` holding this model's weights."""
        clone = self.__class__.from_config(config)
        clone.network.set_weights(self.network.get_weights())
        return clone

    def compile(self, optimizer="rmsprop", objective=None, **kwargs):
        """Configures training: `keras.Model.compile` plus the objective.

        Args:
            optimizer: as `keras.Model.compile`; for the wsolevaluation
                protocol (learning-rate groups, coupled weight decay) use
                `wsol_tf.optimizers.build_optimizer(train_config, model)`.
            objective: a `WSOLObjective`, or a `LossConfig` to build one
                for this model's method and block positions. None:
                `LossConfig()`.
            **kwargs: the other `keras.Model.compile` arguments
                (`run_eagerly`, `steps_per_execution`, `jit_compile`, ...).
        """
        if objective is None or isinstance(objective, LossConfig):
            objective = WSOLObjective.for_model(self._model_config, objective)
        super().compile(optimizer=optimizer, **kwargs)
        self.objective = objective
        self.trackers = {
            name: keras.metrics.Mean(name=name) for name in objective.terms
        }

    def get_compile_config(self):
        config = super().get_compile_config()
        if config:
            config["objective"] = keras.saving.serialize_keras_object(
                self.objective
            )
        return config

    def compile_from_config(self, config):
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def _update_metrics(self, losses, labels, logits):
        for name, tracker in self.trackers.items():
            tracker.update_state(losses[name])
        self.accuracy_tracker.update_state(labels, logits)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        images, labels = _unpack(data)
        with tf.GradientTape() as tape:
            outputs = self.network(images, training=True)
            losses = self.objective(outputs, labels)
            loss = _per_replica(losses["total_loss"])
            loss = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        grads = tape.gradient(loss, variables)
        self.optimizer.apply(grads, variables)
        return self._update_metrics(losses, labels, outputs[OUTPUT_LOGITS])

    def test_step(self, data):
        images, labels = _unpack(data)
        outputs = self.network(images, training=False)
        losses = self.objective(outputs, labels)
        return self._update_metrics(losses, labels, outputs[OUTPUT_LOGITS])

    def predict_step(self, data):
        images, _ = _unpack(data, need_labels=False)
        return self(images, training=False)

    @property
    def metrics(self):
        return list(self.trackers.values()) + [self.accuracy_tracker]

    def get_config(self):
        config = super().get_config()
        # The initial `weights` are not part of the architecture: the saved
        # model carries its own.
        model_config = self._model_config.to_dict()
        model_config.pop("weights")
        config.update(
            {
                "config": model_config,
                "image_size": self.image_size,
                "seed": self.seed,
                "layout": self.layout,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "config" not in config:
            # Saved before the ModelConfig argument: flat keyword arguments
            # (the loss and optimizer ones are now compile's business).
            fields = [f.name for f in dataclasses.fields(ModelConfig)]
            config = {
                "config": {k: config[k] for k in fields if k in config},
                **{k: config[k] for k in _LAYER_KEYS if k in config},
            }
        return cls(**config)


_LAYER_KEYS = ("image_size", "seed", "layout", "name", "trainable", "dtype")


def _per_replica(value):
    """Divides by the replica count: gradients are summed over replicas."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas > 1:
        value = value * (1.0 / replicas)
    return value


def _unpack(data, need_labels=True):
    """`(images, labels)` from a tuple / list / dict batch (or images)."""
    if isinstance(data, dict):
        images, labels = data.get("images"), data.get("labels")
    elif isinstance(data, (tuple, list)):
        images = data[0]
        labels = data[1] if len(data) > 1 else None
    else:
        images, labels = data, None
    if images is None or (need_labels and labels is None):
        raise ValueError(
            "WSOLModel expects batches of (images, labels) or dicts with "
            f"'images' and 'labels'. Received: data={data!r}"
        )
    return images, labels


def build_model(model_config, *, image_size, seed=None, classifier=False):
    """Builds a `WSOLModel` from its config; loads `model_config.weights`.

    Args:
        model_config: `ModelConfig`.
        image_size: int, the (square) input side.
        seed: int or None, seeds of the attention layers.
        classifier: bool, also load the weights' pretrained 1000-class
            classifier into `fc` (`backbones.load_backbone_weights`);
            `run_training` sets it where wsolevaluation does
            (`training.resolve.loads_pretrained_classifier`).

    Returns:
        An uncompiled `WSOLModel`.
    """
    if classifier and not model_config.weights:
        raise ValueError(
            "A pretrained classifier needs pretrained weights. Received: "
            "classifier=True, weights=None"
        )
    layout = backbones.weights_layout(model_config.weights)
    model = WSOLModel(model_config, image_size, seed=seed, layout=layout)
    if model_config.weights:
        backbones.load_backbone_weights(
            model.network,
            model_config.architecture,
            model_config.weights,
            input_shape=(image_size, image_size, 3),
            classifier=classifier,
        )
    return model
