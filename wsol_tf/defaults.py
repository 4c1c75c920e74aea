"""The method's argument defaults and rules, one place each.

The layers and losses take these as their argument defaults and check
their arguments with `check_choice` / `check_range`; `wsol_tf.config`
declares its fields with the same constants. Plain Python: importing it
imports neither Keras nor TensorFlow, so the config (and the tools' flag
parsing) stays cheap.

Values follow the reference code where it fixes them; the ones the ICL
paper leaves open are INFERRED (see the method's documentation).
"""

import numbers

# ADL / ICL attention dropout (Choe and Shim, CVPR 2019).
DROP_RATE = 0.75
DROP_RATE_RANGE = dict(low=0, high=1)
# gamma_d: wsolevaluation's default for every backbone (its published ADL
# baseline); ADL's own TF code used 0.8 for VGG.
DROP_THRESHOLD = 0.9
DROP_THRESHOLD_RANGE = dict(low=0, high=1, low_open=True)
# gamma_bg of ICL's background mask (NOT FOUND in the paper).
BG_THRESHOLD = 0.2
BG_THRESHOLD_RANGE = dict(low=0, high=1, high_open=True)
MASK_MODES = ("hard", "soft")
MASK_MODE = "hard"
FORWARD_MASKS = ("dfg", "drop")

# ICL's attention block.
ATTENTION_SOURCES = ("output", "non_local")
ATTENTION_SOURCE = "output"
POOLED_FEATURES = ("input", "output")
POOLED_FEATURE = "input"
USE_NON_LOCAL = True
# The non-local block (Wang et al.): C' = C / reduction, 2x2 sub-sampling.
NON_LOCAL_REDUCTION = 2
NON_LOCAL_REDUCTION_RANGE = dict(low=1)
NON_LOCAL_SUB_SAMPLE = True

# ICL's losses.
MARGIN = 1.0  # INFERRED: PyTorch's TripletMarginLoss default.
MARGIN_RANGE = dict(low=0)
NORMALIZE_EMBEDDINGS = False
TEMPERATURE = 0.07  # ICL supplement.
TEMPERATURE_RANGE = dict(low=0, low_open=True)
# Where L_ca is applied: every block position or the last one.
LOSS_POSITIONS = ("all", "last")
LOSS_POSITION = "all"
CONSISTENCY_DISTANCES = ("l1", "l2")
CONSISTENCY_DISTANCE = "l1"
CONSISTENCY_MODES = ("full", "background")
CONSISTENCY_MODE = "full"


def check_choice(name, value, choices):
    """Raises ValueError unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(
            f"Expected `{name}` to be one of {choices}. "
            f"Received: {name}={value!r}"
        )
    return value


def check_range(
    name,
    value,
    low=None,
    high=None,
    low_open=False,
    high_open=False,
    integer=False,
):
    """Raises ValueError unless `value` is a number (`integer`: an integer)
    within the bounds; `low_open` / `high_open` exclude a bound."""
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        lower = "(" if low_open else "["
        upper = ")" if high_open else "]"
        bounds = "{}{}, {}{}".format(
            lower,
            "-inf" if low is None else low,
            "inf" if high is None else high,
            upper,
        )
        raise ValueError(
            f"Expected `{name}` to be {'an integer' if integer else 'a number'}"
            f" in {bounds}. Received: {name}={value!r}"
        )
    return value
