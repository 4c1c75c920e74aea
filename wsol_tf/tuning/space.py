"""The hyper-parameter search space of each method, declared once.

`SEARCH_SPACES` holds, per method, the settings searched by
`tools/tune.py` and their ranges. Names are `ExperimentConfig` setting
(= flag) names. Ranges follow the protocol of Choe et al. (CVPR 2020,
"Evaluating WSOL Methods Right", appendix Table 5 per its authors in
clovaai/wsolevaluation issue #8; the table was not re-read here, offline):
learning rate LogUniform[1e-5, 1]; ADL's drop rate and erasing threshold
(gamma_d) Uniform over [0, 1]. Ranges the
protocol does not give (the batch-size set, ICL's gamma_bg, lambda_ca,
lambda_fc, margin, tau) are this package's choices (INFERRED): the
defaults sit inside each range. Every range is checked against the
setting's declaration (`wsol_tf.settings`) by `validate_space`: an open
bound (gamma_d > 0, gamma_bg < 1) is met by a range just inside it.
"""

import dataclasses
from typing import Optional

from wsol_tf import config as config_lib
from wsol_tf import settings

KINDS = ("uniform", "log", "choice")


@dataclasses.dataclass(frozen=True)
class Range:
    """One searched setting: `uniform` / `log` over [low, high] or `choice`.

    Example:
    >>> Range("log", 1e-5, 1.0)
    >>> Range("choice", values=(32, 64, 128))
    """

    kind: str
    low: Optional[float] = None
    high: Optional[float] = None
    values: tuple = ()

    def __str__(self):
        if self.kind == "choice":
            return "choice:" + ",".join(_fmt(v) for v in self.values)
        return f"{self.kind}:{_fmt(self.low)}:{_fmt(self.high)}"


def _fmt(value):
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


_COMMON = {
    "learning_rate": Range("log", 1e-5, 1.0),
    "batch_size": Range("choice", values=(32, 64, 128)),
}
_ADL = {
    "drop_rate": Range("uniform", 0.0, 1.0),
    "drop_threshold": Range("uniform", 0.01, 1.0),
}
_ICL = {
    "bg_threshold": Range("uniform", 0.0, 0.99),
    "ca_weight": Range("log", 0.01, 10.0),
    "fc_weight": Range("log", 0.01, 10.0),
}
# Searched only with the contrastive loss they belong to.
_TRIPLET = {
    "margin": Range("log", 0.01, 10.0),
    "normalize_embeddings": Range("choice", values=(False, True)),
}
_NT_XENT = {"temperature": Range("log", 0.01, 1.0)}

SEARCH_SPACES = {
    "cam": dict(_COMMON),
    "adl": {**_COMMON, **_ADL},
    "icl": {**_COMMON, **_ADL, **_ICL},
}
CONTRASTIVE_SPACES = {"triplet": _TRIPLET, "nt_xent": _NT_XENT, "none": {}}


def owner_of(name):
    """The config class declaring the flag `name` (not a `same_as` copy)."""
    for cls in config_lib.ExperimentConfig._PARTS.values():
        for field in dataclasses.fields(cls):
            if field.name == name and not settings.spec_of(cls, name).same_as:
                return cls
    return None


def default_space(method, contrastive="triplet"):
    """The declared space of `method` (ICL: with its contrastive loss)."""
    space = dict(SEARCH_SPACES[method])
    if method == "icl":
        space.update(CONTRASTIVE_SPACES[contrastive])
    return space


def _parse_value(text, kind, name):
    text = text.strip()
    if kind is bool:
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise ValueError(f"{name}: expected true or false, got {text!r}")
    try:
        return kind(text)
    except ValueError:
        raise ValueError(
            f"{name}: expected {kind.__name__} values, got {text!r}"
        ) from None


def parse_range(entry):
    """`NAME=uniform:LOW:HIGH`, `NAME=log:LOW:HIGH` or `NAME=choice:A,B`.

    Returns:
        `(name, Range)`, with values of the setting's type.

    Raises:
        ValueError: one line naming the entry and what was expected.
    """
    name, sep, spec = entry.partition("=")
    name = name.strip()
    kind, _, rest = spec.partition(":")
    if not sep or kind not in KINDS or not rest:
        raise ValueError(
            f"--search_space={entry}: expected NAME=uniform:LOW:HIGH, "
            "NAME=log:LOW:HIGH or NAME=choice:A,B,..."
        )
    cls = owner_of(name)
    if cls is None:
        raise ValueError(
            f"--search_space={entry}: {name!r} is not a setting (a flag of "
            "tools/train.py)."
        )
    value_kind, _, is_tuple = settings.value_type(cls, name)
    try:
        if is_tuple or (value_kind in (bool, str) and kind != "choice"):
            raise ValueError(f"{name} can only be searched with choice:")
        if kind == "choice":
            values = tuple(
                _parse_value(v, value_kind, name) for v in rest.split(",")
            )
            return name, Range("choice", values=values)
        bounds = rest.split(":")
        if len(bounds) != 2:
            raise ValueError(f"{kind}: needs LOW:HIGH")
        low, high = (_parse_value(b, value_kind, name) for b in bounds)
        return name, Range(kind, low, high)
    except ValueError as e:
        raise ValueError(f"--search_space={entry}: {e}") from None


def validate_space(space, base):
    """Checks each range against its setting's declaration and `base`.

    Bounds and choices must be values the setting accepts (type, range,
    choices; a bound naming another field is read from `base`), with
    low < high, and log ranges positive.

    Args:
        space: `{name: Range}`.
        base: the `ExperimentConfig` the searched values go into.

    Raises:
        ValueError: one line naming the setting, its range and the rule.
    """
    for name, rng in space.items():
        cls = owner_of(name)
        if cls is None:
            raise ValueError(f"Search space: {name!r} is not a setting.")
        where = f"Search space {name}={rng}"
        values = getattr(base, _section(cls)).to_dict()
        if rng.kind == "choice":
            points = rng.values
            if not points:
                raise ValueError(f"{where}: choice needs a value.")
        else:
            points = (rng.low, rng.high)
            if not rng.low < rng.high:
                raise ValueError(f"{where}: expected LOW < HIGH.")
            if rng.kind == "log" and not rng.low > 0:
                raise ValueError(f"{where}: a log range needs LOW > 0.")
        for point in points:
            expected = settings.expectation(
                cls, name, point, values, allow_none=False
            )
            if expected is not None:
                raise ValueError(
                    f"{where}: {name} must be {expected}. "
                    f"Received: {name}={point!r}"
                )


def _section(cls):
    for section, part in config_lib.ExperimentConfig._PARTS.items():
        if part is cls:
            return section
    raise KeyError(cls)


def declare(hp, space):
    """Declares `space` on a `keras_tuner.HyperParameters`; returns values."""
    values = {}
    for name, rng in space.items():
        if rng.kind == "choice":
            values[name] = hp.Choice(name, list(rng.values))
            continue
        sampling = "log" if rng.kind == "log" else "linear"
        if isinstance(rng.low, int) and isinstance(rng.high, int):
            values[name] = hp.Int(name, rng.low, rng.high, sampling=sampling)
        else:
            values[name] = hp.Float(
                name, float(rng.low), float(rng.high), sampling=sampling
            )
    return values


def apply(config, values):
    """`config` with the searched `values` (`{setting name: value}`) set."""
    changes = {}
    for name, value in values.items():
        cls = owner_of(name)
        kind, _, _ = settings.value_type(cls, name)
        # KerasTuner hands bools back as 0 / 1 (Choice over ints).
        value = kind(value) if kind in (bool, int, float) else value
        changes.setdefault(_section(cls), {})[name] = value
    parts = {
        section: getattr(config, section).replace(**fields)
        for section, fields in changes.items()
    }
    return dataclasses.replace(config, **parts)


def to_json(space):
    """`{name: {"kind", "low", "high"} or {"kind", "values"}}`."""
    out = {}
    for name, rng in space.items():
        if rng.kind == "choice":
            out[name] = {"kind": "choice", "values": list(rng.values)}
        else:
            out[name] = {"kind": rng.kind, "low": rng.low, "high": rng.high}
    return out


def describe_spaces():
    """The declared spaces as help text, one line per method."""
    lines = []
    for method, space in SEARCH_SPACES.items():
        entries = [f"{n}={r}" for n, r in space.items()]
        lines.append(f"{method}: " + " ".join(entries))
    for loss, space in CONTRASTIVE_SPACES.items():
        if space:
            entries = [f"{n}={r}" for n, r in space.items()]
            lines.append(f"icl with --contrastive={loss}: " + " ".join(entries))
    return "\n".join(lines)
