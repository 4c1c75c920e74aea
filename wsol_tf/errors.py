"""The package's error types.

Every error wsol_tf raises for bad user input or a fault the user can fix
(a diverged run, a model_dir used by another run, a full disk, a corrupt
file) is a `WSOLError`; the tools print it as one `ERROR: ...` line and
exit with status 1. `WSOLError` subclasses `ValueError`, so
`except ValueError` keeps working.
"""


class WSOLError(ValueError):
    """Bad input or state the user can fix; the message says what and where.

    Example:

    >>> raise WSOLError("metadata/CUB/train/class_labels.txt:7: ...")
    """


class DivergenceError(WSOLError):
    """Training produced a non-finite loss or non-finite weights."""


class RunDirLockedError(WSOLError):
    """Another live run holds the `model_dir`."""


class WriteError(WSOLError):
    """A file could not be written (full or read-only disk); names the path."""


class CorruptFileError(WSOLError):
    """A checkpoint or backup exists but cannot be read."""
