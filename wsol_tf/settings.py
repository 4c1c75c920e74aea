"""Declared settings: one field declaration gives default, checks and help.

`wsol_tf/config.py` declares every field with `setting(default, help,
choices=..., low=..., high=...)`. This module turns the declarations into
the checks run when a config is constructed (`ConfigBase.__post_init__`);
`wsol_tf/cli/config_flags.py` turns them into absl flags.
"""

import dataclasses
import json
import numbers
import os
import typing
from typing import Optional

_META = "wsol_tf_setting"
_NOUNS = {int: "an integer", float: "a number", bool: "a bool", str: "a string"}


class SettingError(ValueError):
    """A value outside a setting's declared type, choices or range.

    `name` is the setting's (= the flag's) name.
    """

    def __init__(self, message, name):
        super().__init__(message)
        self.name = name


@dataclasses.dataclass(frozen=True)
class Setting:
    """The declaration of one setting, kept in the field's metadata.

    `low` / `high` are numbers, or the name of another field of the same
    config (e.g. `resize_size >= image_size`); `low_open` / `high_open`
    exclude the bound. For a tuple setting they bound each element, and the
    tuple must be non-empty. The value's type is the field's annotation
    (`Optional[...]` admits None). `same_as` is `(config class, name)` of
    the setting a mirrored field copies. `affects_result=False` declares a
    setting that cannot change a run's weights or history (verbosity,
    where files go, evaluation-only settings): a run may be resumed with
    another value of it (`changed_settings`). `compare_as="file_name"`
    compares a path by its file name only, so that a run resumes after
    the file (e.g. the package holding it) has moved.
    """

    help: str
    choices: Optional[tuple] = None
    low: object = None
    high: object = None
    low_open: bool = False
    high_open: bool = False
    same_as: Optional[tuple] = None
    affects_result: bool = True
    compare_as: Optional[str] = None


def setting(default, help, **checks):
    """Declares a config field: its default, help and checks (`Setting`).

    Example:
    >>> drop_rate: float = setting(0.75, "P(drop).", low=0, high=1)
    """
    if checks.get("choices") is not None:
        checks["choices"] = tuple(checks["choices"])
    return dataclasses.field(
        default=default, metadata={_META: Setting(help=help, **checks)}
    )


def same_as(config_cls, name):
    """A field mirroring the setting `config_cls.name` (default, checks).

    It has no flag of its own; `ExperimentConfig` keeps the two equal.
    """
    owner = _field(config_cls, name)
    spec = dataclasses.replace(
        spec_of(config_cls, name), same_as=(config_cls, name)
    )
    return dataclasses.field(default=owner.default, metadata={_META: spec})


def _field(config_cls, name):
    for field in dataclasses.fields(config_cls):
        if field.name == name:
            return field
    raise KeyError(f"{config_cls.__name__} has no setting {name!r}.")


def spec_of(config_cls, name):
    """The `Setting` declared for the field `config_cls.name`."""
    return _field(config_cls, name).metadata[_META]


def value_type(config_cls, name):
    """`(type, optional, is_tuple)` of a field, read from its annotation."""
    hint = typing.get_type_hints(config_cls)[name]
    optional = False
    if typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint, optional = args[0], True
    if typing.get_origin(hint) is tuple:
        return typing.get_args(hint)[0], optional, True
    return hint, optional, False


def _bound(bound, values):
    if isinstance(bound, str):  # another field
        return f"{bound} ({values[bound]})" if bound in values else bound
    return f"{bound:g}"


def describe(kind, spec, is_tuple=False, optional=False, values=None):
    """What a setting accepts, in words: e.g. "a number in [0, 1]"."""
    values = values or {}
    low, high = spec.low, spec.high
    if spec.choices:
        text = f"one of {spec.choices}"
    elif low is not None and high is not None:
        text = "{} in {}{}, {}{}".format(
            _NOUNS[kind],
            "(" if spec.low_open else "[",
            _bound(low, values),
            _bound(high, values),
            ")" if spec.high_open else "]",
        )
    elif low is not None:
        op = ">" if spec.low_open else ">="
        text = f"{_NOUNS[kind]} {op} {_bound(low, values)}"
    elif high is not None:
        op = "<" if spec.high_open else "<="
        text = f"{_NOUNS[kind]} {op} {_bound(high, values)}"
    else:
        text = _NOUNS[kind]
    if is_tuple:
        text = f"a non-empty tuple of ({text})"
    return f"None or {text}" if optional else text


def _is_kind(value, kind):
    if isinstance(value, bool) or kind is bool:
        return isinstance(value, bool) and kind is bool
    if kind is int:
        return isinstance(value, numbers.Integral)
    if kind is float:
        return isinstance(value, numbers.Real)
    return isinstance(value, kind)


def _accepts(value, kind, spec, values):
    if not _is_kind(value, kind):
        return False
    if spec.choices:
        return value in spec.choices
    low, high = (
        values.get(b) if isinstance(b, str) else b
        for b in (spec.low, spec.high)
    )
    if low is not None and (value <= low if spec.low_open else value < low):
        return False
    if high is not None:
        return value < high if spec.high_open else value <= high
    return True


def expectation(config_cls, name, value, values=None, allow_none=True):
    """None when `value` fits the declaration, else what was expected."""
    values = values or {}
    kind, optional, is_tuple = value_type(config_cls, name)
    spec = spec_of(config_cls, name)
    optional = optional and allow_none
    if value is None and optional:
        return None
    if is_tuple:
        ok = isinstance(value, tuple) and len(value) > 0
        ok = ok and all(_accepts(v, kind, spec, values) for v in value)
    else:
        ok = _accepts(value, kind, spec, values)
    return None if ok else describe(kind, spec, is_tuple, optional, values)


class ConfigBase:
    """Checks on construction, and to_dict / from_dict / replace."""

    def __post_init__(self):
        values = dataclasses.asdict(self)
        for field in dataclasses.fields(self):
            value = values[field.name]
            expected = expectation(type(self), field.name, value, values)
            if expected is not None:
                raise SettingError(
                    f"Invalid config value: expected {field.name} to be "
                    f"{expected}. Received: {field.name}={value!r}",
                    field.name,
                )

    def validate(self):
        """Checks every field again (construction already did)."""
        self.__post_init__()

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(
                f"Unknown {cls.__name__} keys {unknown}; expected a subset "
                f"of {sorted(names)}."
            )
        return cls(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        )

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def _show(value):
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def _compared(value, spec):
    """A setting's value as `changed_settings` compares it."""
    if spec.compare_as == "file_name" and isinstance(value, str):
        value = os.path.basename(value)
    return _show(value)


def changed_settings(config, recorded):
    """The result-changing settings of `config` that differ from a record.

    Args:
        config: a config dataclass (`ConfigBase`), or one holding a config
            per section (e.g. `ExperimentConfig`).
        recorded: its `to_dict()` as recorded (JSON), e.g. a run's
            config.json. A setting missing from it counts as its default.

    Returns:
        `["name: old -> new", ...]` (values as JSON), in declaration order,
        for each setting declared with `affects_result=True`; mirrored
        (`same_as`) fields are compared through their owner only.
    """
    changes = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        old = recorded.get(field.name, field.default)
        spec = field.metadata.get(_META)
        if spec is None:  # a section
            old = old if isinstance(old, dict) else {}
            changes += changed_settings(value, old)
        elif spec.affects_result and not spec.same_as:
            if old is dataclasses.MISSING or _compared(old, spec) != _compared(
                value, spec
            ):
                changes.append(f"{field.name}: {_show(old)} -> {_show(value)}")
    return changes


def link_mirrors(experiment, sections):
    """Makes each `same_as` field of `experiment` equal to its owner.

    An unset side (None or the default) takes the other side's value;
    two different set values raise `SettingError`.

    Args:
        experiment: a frozen dataclass holding one config per section.
        sections: `{config class: section name}`.
    """
    for cls, section in sections.items():
        for field in dataclasses.fields(cls):
            owner = field.metadata[_META].same_as
            if owner:
                _link(experiment, section, field, sections[owner[0]], owner[1])


def _link(experiment, section, field, owner_section, name):
    part = getattr(experiment, section)
    owner = getattr(experiment, owner_section)
    mine, theirs = getattr(part, field.name), getattr(owner, name)
    if mine == theirs:
        return
    unset = (None, field.default)
    if theirs in unset:
        target, changed = owner_section, owner.replace(**{name: mine})
    elif mine in unset:
        target, changed = section, part.replace(**{field.name: theirs})
    else:
        raise SettingError(
            f"Invalid config value: expected {section}.{field.name} to equal "
            f"{owner_section}.{name} ({theirs!r}). Received: "
            f"{field.name}={mine!r}",
            name,
        )
    object.__setattr__(experiment, target, changed)
