"""The package's base error type.

Every error wsol_tf raises for bad user input (a metadata line, a flag
value, a weights file, an image) is a `WSOLError` or a `ValueError`; the
tools turn both into one `ERROR: ...` line (`wsol_tf.cli.errors`).
`WSOLError` subclasses `ValueError`, so `except ValueError` keeps working.
"""


class WSOLError(ValueError):
    """Bad input or state the user can fix; the message says what and where.

    Example:

    >>> raise WSOLError("metadata/CUB/train/class_labels.txt:7: ...")
    """
