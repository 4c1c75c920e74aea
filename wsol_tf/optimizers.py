"""The optimizer of the wsolevaluation protocol: PyTorch's SGD in Keras.

wsolevaluation trains with `torch.optim.SGD([{features, lr},
{new layers, lr * ratio}], momentum=0.9, nesterov=True,
weight_decay=1e-4)`. `keras.optimizers.SGD` differs from it in two ways
that change a run: it folds the learning rate into the momentum buffer
(`v = m * v - lr * g`), so every learning-rate change (the step decay)
updates differently, and its `weight_decay` is decoupled (AdamW-style)
instead of an L2 term added to the gradient. `SGD` below is torch's
update rule with per-variable learning-rate multipliers (the two
parameter groups).
"""

import keras
import tensorflow as tf
from keras import ops

from wsol_tf import backbones
from wsol_tf.serialization import register


@register
class SGD(keras.optimizers.Optimizer):
    """Stochastic gradient descent with PyTorch's `torch.optim.SGD` rule.

    For each trainable variable `p` with gradient `g` (dampening 0):

    ```python
    g = g + weight_decay * p          # coupled L2, every variable
    buf = momentum * buf + g          # buf = g on the first step
    d = g + momentum * buf if nesterov else buf
    p = p - learning_rate * lr_multipliers.get(p.path, 1.0) * d
    ```

    The learning rate stays outside the momentum buffer, so changing it
    (a schedule, `keras.callbacks.LearningRateScheduler`, or assigning
    `optimizer.learning_rate`) acts from the next step on exactly as a
    change of torch's `param_group["lr"]`. A multiplier `r` on a variable
    is torch's parameter group with learning rate `lr * r`. The decay
    applies to every variable (biases and BatchNormalization parameters
    included), as in wsolevaluation. It is kept in `l2_weight_decay`: the
    base class' decoupled `weight_decay` stays None, so Keras adds no decay
    of its own. Works inside `keras.optimizers.LossScaleOptimizer`
    (mixed_float16) and under `tf.distribute` strategies.

    Args:
        learning_rate: float, a `keras.optimizers.schedules`
            `LearningRateSchedule` or a callable; the base learning rate.
        momentum: float in [0, 1]; 0 is plain gradient descent.
        nesterov: bool, Nesterov momentum (needs `momentum > 0`).
        weight_decay: float >= 0, coupled L2 coefficient added to the
            gradient (torch's `weight_decay`).
        lr_multipliers: dict `{variable.path: float}`; variables not in it
            use 1.0. Every key must name a variable the optimizer is built
            with (leading name scopes may differ, as after reloading a
            Sequential model).
        name: str, the optimizer name.
        **kwargs: other `keras.optimizers.Optimizer` arguments (clipnorm,
            use_ema, ...), except its decoupled `weight_decay`.

    Example:

    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> optimizer = SGD(0.1, lr_multipliers={model.layers[0].bias.path: 10.0})
    >>> model.compile(optimizer=optimizer, loss="mse")
    """

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.9,
        nesterov=True,
        weight_decay=0.0,
        lr_multipliers=None,
        name="sgd",
        **kwargs,
    ):
        # Keras' `weight_decay` is decoupled: never hand ours to the base.
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        momentum, weight_decay = float(momentum), float(weight_decay)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(
                f"SGD expects momentum in [0, 1]. Received: momentum={momentum}"
            )
        if nesterov and momentum <= 0.0:
            raise ValueError(
                "SGD with nesterov=True needs momentum > 0. Received: "
                f"momentum={momentum}"
            )
        if weight_decay < 0.0:
            raise ValueError(
                "SGD expects weight_decay >= 0. Received: "
                f"weight_decay={weight_decay}"
            )
        self.momentum = momentum
        self.nesterov = bool(nesterov)
        self.l2_weight_decay = weight_decay
        self.lr_multipliers = {
            str(k): float(v) for k, v in dict(lr_multipliers or {}).items()
        }

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        # Indexed like the variables (`_get_variable_index`), as Python
        # floats: constants of the traced update.
        self._multipliers = _match_multipliers(
            self.lr_multipliers, [v.path for v in variables]
        )
        self.momentums = []
        if self.momentum > 0.0:
            self.momentums = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient, variable, learning_rate):
        """One torch SGD step of `variable` (see the class docstring)."""
        dtype = variable.dtype
        if isinstance(gradient, tf.IndexedSlices):
            gradient = tf.convert_to_tensor(gradient)
        index = self._get_variable_index(variable)
        step = ops.cast(learning_rate, dtype) * self._multipliers[index]
        grad = ops.cast(gradient, dtype)
        if self.l2_weight_decay:
            grad = grad + self.l2_weight_decay * variable
        if self.momentum > 0.0:
            buf = self.momentums[index]
            self.assign(buf, self.momentum * buf + grad)
            if self.nesterov:
                grad = grad + self.momentum * buf
            else:
                grad = buf
        self.assign_sub(variable, step * grad)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "momentum": self.momentum,
                "nesterov": self.nesterov,
                "weight_decay": self.l2_weight_decay,
                "lr_multipliers": dict(self.lr_multipliers),
            }
        )
        return config


def _same_variable(key, path):
    """Whether `key` names `path`, up to leading name scopes (a reloaded
    Sequential drops its own name from its variable paths)."""
    return key == path or key.endswith("/" + path) or path.endswith("/" + key)


def _match_multipliers(multipliers, paths):
    """The multiplier of each path; every key must name one variable."""
    found = [
        [key for key in multipliers if _same_variable(key, path)]
        for path in paths
    ]
    used = {key for keys in found for key in keys}
    unknown = sorted(set(multipliers) - used)
    if unknown:
        raise ValueError(
            f"SGD lr_multipliers name {len(unknown)} variable(s) the "
            f"optimizer is not built with, e.g. {unknown[0]!r}. Expected "
            f"paths such as {paths[:3]}."
        )
    values = []
    for path, keys in zip(paths, found):
        if len({multipliers[key] for key in keys}) > 1:
            raise ValueError(
                f"SGD lr_multipliers give variable {path!r} different "
                f"values through the keys {keys}."
            )
        values.append(multipliers[keys[0]] if keys else 1.0)
    return values


def learning_rate_multipliers(model, ratio):
    """wsolevaluation's two learning-rate groups as `SGD.lr_multipliers`.

    Args:
        model: a `WSOLModel` (its `network` and `architecture`).
        ratio: float, the multiplier of the new layers (`TrainConfig`
            `lr_classifier_ratio`); pretrained feature layers get 1.0, as
            decided by `backbones.is_feature_layer`.

    Returns:
        dict `{variable.path: float}` over every trainable variable.
    """
    multipliers = {}
    for layer in model.network.layers:
        new = not backbones.is_feature_layer(model.architecture, layer.name)
        for variable in layer.trainable_variables:
            multipliers[variable.path] = float(ratio) if new else 1.0
    return multipliers


def build_optimizer(train_config, model):
    """The protocol's `SGD` for `model` from a `TrainConfig`.

    Example:

    >>> optimizer = build_optimizer(TrainConfig(), model)
    >>> model.compile(optimizer=optimizer)
    """
    train = train_config
    return SGD(
        learning_rate=train.learning_rate,
        momentum=train.momentum,
        nesterov=train.nesterov,
        weight_decay=train.weight_decay,
        lr_multipliers=learning_rate_multipliers(
            model, train.lr_classifier_ratio
        ),
    )
