"""Command-line parsing of the tools: flagfiles found from any directory.

`parse_flags` is the `flags_parser` of `absl.app.run`: it inlines
`--flagfile=` arguments (`expand_flagfiles`), optionally puts a preset
flagfile underneath a command line that names none (tools/train.py's demo),
and turns a parsing error into one FATAL line.
"""

import os
import sys

from absl import flags

# The repository root: nested flagfile paths such as `flags/base.flags`
# are also looked up relative to it.
REPO_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
# The presets (flags/*.flags) as installed package data (setup.py maps
# flags/ to the package wsol_tf.presets), else the checkout's flags/.
_INSTALLED_PRESETS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "presets"
)


def define_once(define, name, *args, **kwargs):
    """Defines a flag with `define` (e.g. `flags.DEFINE_string`), or returns
    the holder of the flag of that name already defined: the tools' modules
    can then be imported together (tests, `pkgutil.walk_packages`), where
    two tools name a flag alike (`--output`) or reuse a config flag
    (`--metadata_root`). A process runs one tool, which reads its flags."""
    if name in flags.FLAGS:
        return flags.FlagHolder(flags.FLAGS, flags.FLAGS[name])
    return define(name, *args, **kwargs)


def presets_dir():
    """The folder of the preset flagfiles (installed, or the checkout's)."""
    if os.path.isdir(_INSTALLED_PRESETS):
        return _INSTALLED_PRESETS
    return os.path.join(REPO_ROOT, "flags")


def preset_names():
    """Names of the presets (`--preset=NAME` reads `NAME.flags`)."""
    return sorted(
        name[: -len(".flags")]
        for name in os.listdir(presets_dir())
        if name.endswith(".flags")
    )


def preset_path(name):
    """The flagfile of preset `name`; raises flags.Error for an unknown one."""
    path = os.path.join(presets_dir(), f"{name}.flags")
    if not os.path.isfile(path):
        raise flags.Error(
            f"--preset: unknown preset {name!r}; expected one of "
            f"{', '.join(preset_names())}."
        )
    return path


def _resolve_flagfile(path, including_file=None):
    """Finds a flagfile: as given (CWD), then beside / above the includer."""
    path = os.path.expanduser(path)
    if os.path.isabs(path) or os.path.exists(path):
        return path
    roots = []
    if including_file:
        d = os.path.dirname(os.path.abspath(including_file))
        while True:
            roots.append(d)
            parent = os.path.dirname(d)
            if parent == d:
                break
            d = parent
    roots.append(REPO_ROOT)
    for root in roots:
        candidate = os.path.join(root, path)
        if os.path.exists(candidate):
            return candidate
    # "flags/x.flags" names a preset file wherever the package is installed.
    head, _, rest = path.replace(os.sep, "/").partition("/")
    if head == "flags" and rest:
        candidate = os.path.join(presets_dir(), rest)
        if os.path.exists(candidate):
            return candidate
    return path


def _read_flagfile(path, including_file, stack):
    resolved = _resolve_flagfile(path, including_file)
    if not os.path.isfile(resolved):
        where = f" (included from {including_file})" if including_file else ""
        raise flags.CantOpenFlagFileError(
            f"Flagfile not found: {path}{where}. Looked in the working "
            f"directory ({os.getcwd()}) and in {REPO_ROOT}."
        )
    key = os.path.realpath(resolved)
    if key in stack:
        raise flags.Error(f"Circular flagfile include: {resolved}")
    lines = []
    with open(resolved) as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith("#") or line.startswith("//"):
                continue
            if line.startswith(("--flagfile=", "-flagfile=")):
                sub = line.split("=", 1)[1].strip()
                lines.extend(_read_flagfile(sub, resolved, stack + [key]))
            else:
                lines.append(line)
    return lines


def expand_flagfiles(argv):
    """Inlines `--flagfile=` arguments, like absl, with robust paths.

    absl opens a nested `--flagfile=flags/base.flags` relative to the working
    directory; here a relative path is tried in the working directory, then
    in the including file's directory and each of its parents, then in the
    repository root, so the flagfiles work from anywhere. Order (later flags
    win) and comment rules (`#`, `//`) are absl's.
    """
    out = [argv[0]]
    args = list(argv[1:])
    while args:
        arg = args.pop(0)
        if arg == "--":
            out.append(arg)
            out.extend(args)
            break
        if arg in ("--flagfile", "-flagfile"):
            if not args:
                raise flags.IllegalFlagValueError("--flagfile with no argument")
            out.extend(_read_flagfile(args.pop(0), None, []))
        elif arg.startswith(("--flagfile=", "-flagfile=")):
            out.extend(_read_flagfile(arg.split("=", 1)[1], None, []))
        elif arg.startswith(("--preset=", "-preset=")):
            name = arg.split("=", 1)[1]
            out.extend(_read_flagfile(preset_path(name), None, []))
        else:
            out.append(arg)
    return out


def _names_a_flagfile(argv):
    return any(
        a in ("--flagfile", "-flagfile")
        or a.startswith(("--flagfile=", "-flagfile=", "--preset=", "-preset="))
        for a in argv[1:]
    )


def parse_flags(argv, flag_values=None, preset=None):
    """absl `flags_parser` for `app.run`: flagfiles, then a clear FATAL.

    Args:
        argv: the command line.
        flag_values: a `FlagValues` (default `absl.flags.FLAGS`). When given,
            errors are raised instead of exiting (tests).
        preset: a flagfile read first when `argv` names no `--flagfile`
            (flags on the command line still override it); a line says so.

    Returns:
        The remaining arguments, as `FlagValues.__call__`.
    """
    fv = flag_values if flag_values is not None else flags.FLAGS
    argv = list(argv)
    if preset and not _names_a_flagfile(argv):
        print(
            f"No --flagfile: using the preset {preset} (flags on the "
            "command line override it)."
        )
        argv.insert(1, f"--flagfile={preset}")
    try:
        return fv(expand_flagfiles(argv))
    except flags.Error as e:
        if flag_values is not None:
            raise
        sys.stderr.write(f"FATAL Flags parsing error: {e}\n")
        sys.stderr.write(
            "Pass --helpshort or --helpfull to see help on flags.\n"
        )
        sys.exit(1)


def quiet_logging():
    """absl logs at WARNING unless --verbosity was given (absl.app raises
    an unset verbosity to INFO, which floods the console with TF's INFO
    lines when exporting)."""
    from absl import logging

    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
