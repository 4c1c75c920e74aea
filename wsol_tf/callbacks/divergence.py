"""Stops a diverging run: non-finite losses or weights raise at once."""

import math

import keras
import numpy as np

from wsol_tf.errors import DivergenceError

TOTAL = "total_loss"


def non_finite_weights(model):
    """Paths of the model's variables holding a NaN or an infinity."""
    bad = []
    for variable in model.weights:
        value = keras.ops.convert_to_numpy(variable)
        if np.issubdtype(value.dtype, np.floating) and not np.all(
            np.isfinite(value)
        ):
            bad.append(getattr(variable, "path", variable.name))
    return bad


def check_finite_weights(model, what):
    """Raises `DivergenceError` when the model's weights are not finite.

    Args:
        model: a Keras model.
        what: what is refused, for the message (e.g. "writing last.keras").
    """
    bad = non_finite_weights(model)
    if bad:
        raise DivergenceError(
            f"Refusing {what}: {len(bad)} weight variable(s) are NaN or "
            f"infinite, e.g. {bad[0]} (the run diverged)."
        )


def current_learning_rate(model):
    """The optimizer's learning rate as a float (None without one)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    try:
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except (TypeError, ValueError, AttributeError):
        return None


_ADVICE = (
    "Nothing was saved from this epoch; lower --learning_rate (the last "
    "good checkpoint and backup are kept)."
)


def _at_rate(model):
    lr = current_learning_rate(model)
    return "" if lr is None else f" at learning rate {lr:g}"


class StopOnNonFinite(keras.callbacks.Callback):
    """Raises `DivergenceError` on the first non-finite loss or weight.

    After every training step it checks the loss terms in the logs (the
    running means of `WSOLModel`'s trackers, so the first non-finite one is
    the step where it appeared); at the end of every epoch, before the
    callbacks after it (metrics, checkpoints, backup) run, it checks the
    weights too (a finite loss with an infinite gradient corrupts the
    weights only). Unlike `keras.callbacks.TerminateOnNaN`, which ends
    `fit` quietly, the run fails: put it FIRST in the callback list, so
    that nothing non-finite is evaluated, checkpointed or backed up.

    Args:
        keys: the logs keys to check; None: every key ending in "loss".
    """

    def __init__(self, keys=None):
        super().__init__()
        self.keys = keys
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def _message(self, step, term, value, terms):
        others = ", ".join(f"{k}={v}" for k, v in terms if k != term)
        iterations = getattr(self.model.optimizer, "iterations", None)
        where = f"epoch {self._epoch + 1}, step {step + 1}"
        if iterations is not None:
            where += f" (optimizer step {int(iterations.numpy())})"
        what = f"{term} is {value}" + (f" ({others})" if others else "")
        return (
            f"Training diverged at {where}: {what}{_at_rate(self.model)}. "
            + _ADVICE
        )

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        keys = self.keys or [k for k in logs if k.endswith("loss")]
        bad = []
        for key in keys:
            if key not in logs:
                continue
            value = float(np.asarray(logs[key]).reshape(-1)[0])
            if not math.isfinite(value):
                bad.append((key, value))
        if bad:
            # Name a term of the objective rather than their sum.
            term, value = next(
                ((k, v) for k, v in bad if k not in (TOTAL, "loss")), bad[0]
            )
            raise DivergenceError(self._message(batch, term, value, bad))

    def on_epoch_end(self, epoch, logs=None):
        bad = non_finite_weights(self.model)
        if bad:
            raise DivergenceError(
                f"Training diverged in epoch {epoch + 1}: {len(bad)} weight "
                f"variable(s) are NaN or infinite, e.g. {bad[0]}"
                f"{_at_rate(self.model)}. " + _ADVICE
            )
