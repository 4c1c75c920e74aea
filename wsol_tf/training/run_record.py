"""A run's record (`<model_dir>/config.json`) is never rewritten silently.

A run into a model_dir that already holds one either continues it (the
settings that change the result are the recorded ones: an interrupted run
resumes, a finished one is re-evaluated) or is refused with one line
naming each changed setting. `overwrite=True` moves the old run aside to
`<model_dir>.old-<time>` and starts over. Which settings may differ is
declared next to each setting (`affects_result=False` in
`wsol_tf/config.py`).
"""

import datetime
import json
import os

from wsol_tf.errors import CorruptFileError
from wsol_tf.errors import WriteError
from wsol_tf.errors import WSOLError
from wsol_tf.settings import changed_settings
from wsol_tf.training.run_lock import LOCK_NAME

RECORD_NAME = "config.json"


def _read_record(path):
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError) as e:
        raise CorruptFileError(
            f"{path} is not a readable run record ({e}): pass --overwrite to "
            "move this run aside and start over, or use another --model_dir."
        ) from e
    if not isinstance(record, dict):
        raise CorruptFileError(
            f"{path} is not a run record (expected a JSON object): pass "
            "--overwrite to move this run aside and start over, or use "
            "another --model_dir."
        )
    return record


def set_aside(model_dir):
    """Moves everything in `model_dir` but its lock to a sibling directory.

    Returns:
        The new directory, `<model_dir>.old-<YYYYmmdd-HHMMSS>` (a counter
        is appended if it exists), or None when there was nothing to move.
    """
    names = [n for n in sorted(os.listdir(model_dir)) if n != LOCK_NAME]
    if not names:
        return None
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{os.path.normpath(model_dir)}.old-{stamp}"
    target, n = base, 1
    while os.path.exists(target):
        target, n = f"{base}.{n}", n + 1
    try:
        os.makedirs(target)
        for name in names:
            os.rename(os.path.join(model_dir, name), os.path.join(target, name))
    except OSError as e:
        raise WriteError(
            f"Cannot move the run in {model_dir} aside to {target}: {e}"
        ) from e
    return target


def check_run_record(config):
    """Continues, refuses or (with `train.overwrite`) sets aside a run.

    Called with the lock of `config.train.model_dir` held, before anything
    is written there.

    Args:
        config: the resolved `ExperimentConfig` the run would record.

    Raises:
        WSOLError: config.json records other result-changing settings
            (one line: `name: old -> new` for each).
        CorruptFileError: config.json is not readable.
        WriteError: `overwrite` could not move the old run.
    """
    model_dir = config.train.model_dir
    if not os.path.isdir(model_dir):
        return
    if config.train.overwrite:
        moved = set_aside(model_dir)
        if moved:
            print(f"--overwrite: moved the previous run to {moved}", flush=True)
        return
    path = os.path.join(model_dir, RECORD_NAME)
    if not os.path.isfile(path):
        return
    changes = changed_settings(config, _read_record(path))
    if changes:
        raise WSOLError(
            f"{model_dir} holds a run made with other settings "
            f"({'; '.join(changes)}): use another --model_dir, or "
            "--overwrite to move that run aside and start over."
        )
