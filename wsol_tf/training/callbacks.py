"""The learning-rate schedule of a run (callbacks: `wsol_tf.callbacks`)."""


def step_decay(learning_rate, decay_epochs, decay_factor):
    """wsolevaluation's step decay as a `LearningRateScheduler` schedule.

    Keras epoch `e` (0-based) trains at
    `learning_rate * decay_factor ** ((e + 1) // decay_epochs)`: the
    reference calls `adjust_learning_rate(e + 1)` before its epoch `e + 1`
    (1-based), which multiplies the rate when `(e + 1) % decay_epochs == 0`.
    With `decay_epochs=15` the first 14 epochs use `learning_rate` and the
    15th already the decayed rate.

    Args:
        learning_rate: float, the rate of the first epoch.
        decay_epochs: int > 0, wsolevaluation's `lr_decay_frequency`.
        decay_factor: float, the multiplier of each decay (0.1 there).

    Returns:
        `schedule(epoch, lr=None) -> float`.

    Example:

    >>> schedule = step_decay(0.01, 15, 0.1)
    >>> [schedule(e) for e in (13, 14)]  # ~[0.01, 0.001]
    """

    def schedule(epoch, lr=None):
        del lr
        steps = (int(epoch) + 1) // decay_epochs
        return float(learning_rate * decay_factor**steps)

    return schedule
