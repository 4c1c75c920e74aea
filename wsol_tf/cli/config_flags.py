"""absl flags derived from the config declarations, and flags -> config.

One flag per setting of `wsol_tf/config.py`, with the same name, default,
choices and help (`define_config_flags`). A `same_as` field (e.g.
`ModelConfig.num_classes`, `DataConfig.seed`) has no flag of its own: it
reads its owner's flag (`--num_classes`, `--seed`). `--mixed_precision`
is an alias of `--precision`. Importing this module defines the flags on
`absl.flags.FLAGS`; tools adopt them with
`flags.adopt_module_key_flags(config_flags)`.
"""

import dataclasses

from absl import flags

from wsol_tf import config as config_lib
from wsol_tf import settings
from wsol_tf.cli.errors import FlagError

FLAGS = flags.FLAGS
_ALIASES = {"precision": "mixed_precision"}


class _TupleParser(flags.ArgumentParser):
    """Comma-separated values of one type, e.g. `30,50,70` -> (30, 50, 70)."""

    def __init__(self, kind):
        self.kind = kind

    def parse(self, argument):
        if isinstance(argument, str):
            argument = [a for a in argument.split(",") if a.strip()]
        try:
            return tuple(self.kind(a) for a in argument)
        except (TypeError, ValueError):
            raise ValueError(
                f"expected comma-separated {self.kind.__name__} values, "
                f"e.g. 30,50,70. Received: {argument!r}"
            ) from None

    def flag_type(self):
        return f"comma-separated {self.kind.__name__} list"


def _define(cls, field, flag_values):
    """Defines the flag of one declared setting; returns its FlagHolder."""
    spec = settings.spec_of(cls, field.name)
    kind, _, is_tuple = settings.value_type(cls, field.name)
    args = (field.name, field.default, spec.help)
    kwargs = dict(flag_values=flag_values)
    if spec.choices:
        return flags.DEFINE_enum(
            field.name, field.default, spec.choices, spec.help, **kwargs
        )
    if is_tuple:
        return flags.DEFINE(
            _TupleParser(kind),
            *args,
            serializer=flags.CsvListSerializer(","),
            **kwargs,
        )
    define = {
        bool: flags.DEFINE_bool,
        int: flags.DEFINE_integer,
        float: flags.DEFINE_float,
        str: flags.DEFINE_string,
    }[kind]
    return define(*args, **kwargs)


def define_config_flags(flag_values=FLAGS):
    """Defines one flag per declared setting; returns {name: FlagHolder}."""
    holders = {}
    for cls in config_lib.ExperimentConfig._PARTS.values():
        for field in dataclasses.fields(cls):
            if not settings.spec_of(cls, field.name).same_as:
                holders[field.name] = _define(cls, field, flag_values)
    spec = settings.spec_of(config_lib.TrainConfig, "precision")
    flags.DEFINE_enum(
        "mixed_precision",
        None,
        spec.choices,
        "Alias of --precision (wins when both are given).",
        flag_values=flag_values,
    )
    return holders


def config_from_flags(flag_values=None, base=None):
    """Builds the `ExperimentConfig` from parsed flags.

    Args:
        flag_values: a parsed `FlagValues` (default: `absl.flags.FLAGS`).
        base: optional `ExperimentConfig`. When given, only flags given on the
            command line or in a flagfile override it (e.g. the config.json
            of a training run); otherwise every flag value is used.

    Returns:
        `ExperimentConfig`.

    Raises:
        FlagError (a ValueError): "Bad value for flag --NAME: ...", when a
            value is out of its declared range.
    """
    fv = flag_values if flag_values is not None else FLAGS
    explicit_only = base is not None
    base = base if base is not None else config_lib.ExperimentConfig()
    parts = {}
    try:
        for section, cls in config_lib.ExperimentConfig._PARTS.items():
            changes = {}
            for field in dataclasses.fields(cls):
                name = field.name
                alias = _ALIASES.get(name)
                if alias and fv[alias].value is not None:
                    name = alias
                if not explicit_only or fv[name].present:
                    changes[field.name] = fv[name].value
            parts[section] = getattr(base, section).replace(**changes)
        return config_lib.ExperimentConfig(**parts)
    except settings.SettingError as e:
        raise FlagError(f"Bad value for flag --{e.name}: {e}") from None


HOLDERS = define_config_flags(FLAGS)
