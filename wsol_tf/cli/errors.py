"""One-line errors of the tools: `ERROR: <message>`, exit status 1.

Every tool runs its `main` through `run_tool` (or wraps it with
`one_line_errors`): an error the user can cause (the package's
`WSOLError`, any `ValueError` or `OSError` such as a missing file, a full
or read-only disk, a TensorFlow op error such as an undecodable image, or
absl's `app.UsageError`) ends as one `ERROR: ...` line on stderr and exit
status 1, without a traceback and without absl's page of flag help. The
message's first line names the file, line or flag and what was expected;
errors that list several problems (e.g. every bad metadata line) follow it
with one indented line each. Set `WSOL_TF_TRACEBACK=1` to get the
traceback instead (debugging).
"""

import functools
import os
import sys

from absl import app

from wsol_tf.errors import WSOLError

TRACEBACK_ENV = "WSOL_TF_TRACEBACK"
HELP_HINT = "see --helpshort"


class FlagError(WSOLError):
    """A flag value the tool cannot use; printed with a hint to --helpshort."""


def _user_error_types():
    types = [ValueError, OSError]
    tf = sys.modules.get("tensorflow")
    if tf is not None:  # only a tool that imported TF can meet its errors
        types.append(tf.errors.OpError)
    return tuple(types)


def error_message(error):
    """The text of `ERROR: ...` for one exception (no traceback)."""
    # TF op errors carry the op's text in `.message`; an OSError reads
    # e.g. "[Errno 28] No space left on device: 'runs/x/config.json'".
    text = getattr(error, "message", None)
    text = (text if isinstance(text, str) else str(error)).strip()
    text = text or type(error).__name__
    if isinstance(error, (FlagError, app.UsageError)):
        first, _, rest = text.partition("\n")
        text = f"{first} ({HELP_HINT})" + (f"\n{rest}" if rest else "")
    return text


def fail(message, status=1):
    """Prints `ERROR: message` on stderr and exits with `status`."""
    sys.stdout.flush()
    sys.stderr.write(f"ERROR: {message}\n")
    sys.stderr.flush()
    sys.exit(status)


def one_line_errors(main):
    """Decorates a tool's `main(argv)`: user errors become one ERROR line.

    Example:

    >>> @one_line_errors
    ... def main(argv):
    ...     raise ValueError("data.txt:3: expected an integer")
    >>> app.run(main)  # prints "ERROR: data.txt:3: ...", exits 1
    """

    @functools.wraps(main)
    def wrapped(argv):
        try:
            return main(argv)
        except (app.UsageError, Exception) as error:
            user_error = isinstance(
                error, (app.UsageError,) + _user_error_types()
            )
            if not user_error or os.environ.get(TRACEBACK_ENV):
                raise
            fail(error_message(error))

    return wrapped


def run_tool(main, flags_parser=None):
    """`absl.app.run(main)` with one-line errors and robust flagfiles.

    Args:
        main: the tool's `main(argv)`.
        flags_parser: absl `flags_parser` (default
            `wsol_tf.cli.flagfiles.parse_flags`: flagfiles found from any
            directory, a parsing error as one FATAL line).
    """
    if flags_parser is None:
        from wsol_tf.cli import flagfiles

        flags_parser = flagfiles.parse_flags
    app.run(one_line_errors(main), flags_parser=flags_parser)
