"""WSOLModel: backbone + ADL / ICL attention blocks + CAM head."""

import keras
import tensorflow as tf
from keras import ops

from wsol_tf import backbones
from wsol_tf.config import LossConfig
from wsol_tf.config import ModelConfig
from wsol_tf.layers import class_activation_maps
from wsol_tf.layers import select_class_maps
from wsol_tf.models import model_losses
from wsol_tf.models.network import OUTPUT_LOGITS
from wsol_tf.models.network import build_network
from wsol_tf.serialization import register

OUTPUT_CAMS = "cams"
_MODEL_FIELDS = tuple(
    f for f in ModelConfig.__dataclass_fields__ if f != "weights"
)
_LOSS_FIELDS = tuple(LossConfig.__dataclass_fields__)


@register
class WSOLModel(keras.Model):
    """Weakly supervised localization model: CAM, ADL or ICL.

    The inner functional network `self.network` is the wsolevaluation
    backbone (`wsol_tf.backbones`) with a layer `attention_<position>` at
    each of the three block positions (`"adl"`: `AttentionDropout`,
    `"icl"`: `ICLAttentionBlock`, `"cam"`: none) and the head: GAP + `fc`
    (VGG16 / ResNet50) or the 1x1 conv `SPG_A4` + GAP (InceptionV3), both
    in float32. Its outputs dict holds `"logits"`, `"features"` or
    `"class_maps"`, and for ICL, per position `p`: `"attention_p"`
    (float32 `[B, h, w, 1]`), `"z_dfg_p"`, `"z_fg_p"`, `"z_bg_p"` (float32
    `[B, C]`) and `"valid_p"` (float32 `[B]`).

    `train_step` / `test_step` compute `L = L_cls + ca_weight * L_ca +
    fc_weight * L_fc` (see `model_losses.compute_losses`); `compile` needs
    only an optimizer. Learning-rate groups and coupled weight decay are
    applied to the gradients (see `configure_optimization`).

    Args:
        architecture: `"vgg16"`, `"resnet50"` or `"inceptionv3"`.
        method: `"cam"`, `"adl"` or `"icl"`.
        num_classes: int.
        image_size: int, the (square) input side.
        large_feature_map, drop_rate, drop_threshold, bg_threshold,
        use_non_local, non_local_sub_sample, non_local_reduction,
        attention_source, mask_mode, forward_mask, use_background_drop,
        pooled_feature, loss_positions:
            the `ModelConfig` fields (`drop_threshold=None` -> the
            backbone's ADL default; `use_background_drop=False` forces
            `forward_mask="drop"`).
        contrastive, ca_weight, fc_weight, margin, normalize_embeddings,
        temperature, consistency_distance, consistency_mode: the
            `LossConfig` fields (`contrastive="none"` or a zero weight
            disables a term).
        weight_decay: float, coupled L2 decay added to the gradients.
        lr_classifier_ratio: float, gradient (= learning-rate) multiplier
            of the layers that are not pretrained features.
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
    >>> model = WSOLModel("resnet50", "icl", num_classes=200)
    >>> model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
    >>> model.fit(train_ds, epochs=1)
    >>> logits, cams = model.compute_cams(images, labels)

    Reference:
    - [Ki et al., In-sample Contrastive Learning and Consistent Attention
        for WSOL, ACCV 2020](https://arxiv.org/abs/2009.12063)
    - [Choe et al., Evaluating WSOL Methods Right, CVPR 2020](
        https://arxiv.org/abs/2001.07437)
    """

    def __init__(
        self,
        architecture="resnet50",
        method="icl",
        num_classes=200,
        image_size=224,
        large_feature_map=False,
        drop_rate=0.75,
        drop_threshold=None,
        bg_threshold=0.2,
        use_non_local=True,
        non_local_sub_sample=True,
        non_local_reduction=2,
        attention_source="output",
        mask_mode="hard",
        forward_mask="dfg",
        use_background_drop=True,
        pooled_feature="input",
        loss_positions="all",
        contrastive="triplet",
        ca_weight=1.0,
        fc_weight=1.0,
        margin=1.0,
        normalize_embeddings=False,
        temperature=0.07,
        consistency_distance="l1",
        consistency_mode="full",
        weight_decay=0.0,
        lr_classifier_ratio=1.0,
        seed=None,
        layout="keras",
        **kwargs,
    ):
        super().__init__(**kwargs)
        args = dict(locals())
        self._model_args = {k: args[k] for k in _MODEL_FIELDS}
        self._loss_args = {k: args[k] for k in _LOSS_FIELDS}
        ModelConfig(**self._model_args).validate()
        LossConfig(**self._loss_args).validate()
        if int(image_size) < 1:
            raise ValueError(
                f"`image_size` must be positive. Received: image_size="
                f"{image_size}"
            )
        for name in _MODEL_FIELDS + _LOSS_FIELDS:
            setattr(self, name, args[name])
        self.image_size = int(image_size)
        self.seed = seed
        self.layout = backbones.check_layout(layout)
        self.weight_decay = float(weight_decay)
        self.lr_classifier_ratio = float(lr_classifier_ratio)
        self.positions = backbones.block_positions(architecture, method)
        self.cam_kind = backbones.CAM_KIND[architecture]
        self.network = self._build_network()
        self.loss_terms = model_losses.loss_terms(method, self._loss_args)
        self.trackers = {
            name: keras.metrics.Mean(name=name) for name in self.loss_terms
        }
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(
            name="accuracy"
        )
        self.built = True

    def _build_network(self):
        # Inner layers follow the model's policy (it differs from the global
        # one only when a saved model is reloaded under another policy).
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(self.dtype_policy)
        try:
            return build_network(
                self.image_size,
                seed=self.seed,
                layout=self.layout,
                **self._model_args,
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

    def with_image_size(self, image_size):
        """A copy of this model for another input side, same weights.

        The input size is static (InceptionV3 needs it); use this to run
        a model trained at `image_size` on another evaluation size.
        """
        config = dict(self.get_config(), image_size=int(image_size))
        clone = self.__class__.from_config(config)
        clone.network.set_weights(self.network.get_weights())
        return clone

    def configure_optimization(self, weight_decay=0.0, lr_classifier_ratio=1.0):
        """Sets the coupled L2 weight decay and the new-layer LR ratio.

        Both act on the gradients in `train_step`, before
        `optimizer.apply`: `g <- ratio * (g + weight_decay * w)` for every
        trainable variable, `ratio = lr_classifier_ratio` for the variables
        of layers that `backbones.is_feature_layer` marks as new (else 1).
        For SGD (with or without momentum / Nesterov) multiplying a
        gradient by `ratio` is exactly the same as a parameter group with
        `lr * ratio` (the update is linear in `lr * g`), i.e. PyTorch's
        `SGD([{params, lr}, {params, lr * ratio}], weight_decay=wd)` of
        wsolevaluation (whose decay, like this one, also covers biases and
        BatchNormalization parameters). Not equivalent for adaptive
        optimizers (Adam). Under a distribution strategy the decay term is
        divided by the replica count like the loss, and under
        mixed_float16 it is multiplied by the loss scale like the loss.
        Call before the first `fit` (the train function is reset).
        """
        self.weight_decay = float(weight_decay)
        self.lr_classifier_ratio = float(lr_classifier_ratio)
        self.train_function = None

    def gradient_multipliers(self):
        """`{id(variable): ratio}` for every trainable variable."""
        multipliers = {}
        for layer in self.network.layers:
            new = not backbones.is_feature_layer(self.architecture, layer.name)
            ratio = self.lr_classifier_ratio if new else 1.0
            for variable in layer.trainable_variables:
                multipliers[id(variable)] = ratio
        return multipliers

    def _adjust_gradients(self, grads, variables):
        multipliers = self.gradient_multipliers()
        decay = None
        if self.weight_decay:
            # Same scaling as the loss: loss scale and replica count.
            decay = self.optimizer.scale_loss(
                _per_replica(ops.convert_to_tensor(self.weight_decay))
            )
        adjusted = []
        for grad, variable in zip(grads, variables):
            if grad is not None:
                if decay is not None:
                    grad = grad + ops.cast(decay, grad.dtype) * ops.cast(
                        variable, grad.dtype
                    )
                ratio = multipliers.get(id(variable), 1.0)
                if ratio != 1.0:
                    grad = grad * ratio
            adjusted.append(grad)
        return adjusted

    def _compute_losses(self, outputs, labels):
        return model_losses.compute_losses(
            outputs,
            labels,
            self.method,
            self.positions,
            self._loss_args,
            self._model_args,
        )

    def _update_metrics(self, losses, labels, logits):
        for name, tracker in self.trackers.items():
            tracker.update_state(losses[name])
        self.accuracy_tracker.update_state(labels, logits)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        images, labels = _unpack(data)
        with tf.GradientTape() as tape:
            outputs = self.network(images, training=True)
            losses = self._compute_losses(outputs, labels)
            loss = _per_replica(losses["total_loss"])
            loss = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        grads = tape.gradient(loss, variables)
        grads = self._adjust_gradients(grads, variables)
        self.optimizer.apply(grads, variables)
        return self._update_metrics(losses, labels, outputs[OUTPUT_LOGITS])

    def test_step(self, data):
        images, labels = _unpack(data)
        outputs = self.network(images, training=False)
        losses = self._compute_losses(outputs, labels)
        return self._update_metrics(losses, labels, outputs[OUTPUT_LOGITS])

    def predict_step(self, data):
        images, _ = _unpack(data, need_labels=False)
        return self(images, training=False)

    @property
    def metrics(self):
        return list(self.trackers.values()) + [self.accuracy_tracker]

    def get_config(self):
        config = super().get_config()
        config.update(self._model_args)
        config.update(self._loss_args)
        config.update(
            {
                "image_size": self.image_size,
                "weight_decay": self.weight_decay,
                "lr_classifier_ratio": self.lr_classifier_ratio,
                "seed": self.seed,
                "layout": self.layout,
            }
        )
        return config


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


def build_model(model_config, loss_config, *, image_size):
    """Builds a `WSOLModel` from configs; loads `model_config.weights`."""
    model_config.validate()
    loss_config.validate()
    kwargs = {k: getattr(model_config, k) for k in _MODEL_FIELDS}
    kwargs.update({k: getattr(loss_config, k) for k in _LOSS_FIELDS})
    layout = backbones.weights_layout(model_config.weights)
    model = WSOLModel(image_size=image_size, layout=layout, **kwargs)
    if model_config.weights:
        backbones.load_backbone_weights(
            model.network,
            model_config.architecture,
            model_config.weights,
            input_shape=(image_size, image_size, 3),
        )
    return model
