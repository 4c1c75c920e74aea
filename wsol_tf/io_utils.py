"""Atomic file writes: a temporary sibling renamed into place.

A reader (or a rerun after a kill) sees either the previous file or the
complete new one, never a truncated one.

Example:

```python
with atomic_path("runs/x/model.keras", suffix=".keras") as tmp:
    model.save(tmp)
write_json("runs/x/metrics.json", {"maxboxaccv2": 61.2})
```
"""

import contextlib
import json
import os
import re
import shutil
import uuid

import numpy as np

from wsol_tf.errors import WriteError

# `atomic_path`'s temporary names: `.tmp-<name>-<8 hex>[suffix]`.
_TEMP_NAME = re.compile(r"^\.tmp-.+-[0-9a-f]{8}(\.[A-Za-z0-9.]+)?$")


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def _move_into_place(tmp, path):
    """`os.replace`, which cannot replace a non-empty directory."""
    if os.path.isdir(tmp) and os.path.lexists(path):
        old = f"{path}.old-{uuid.uuid4().hex[:8]}"
        os.rename(path, old)
        os.rename(tmp, path)
        _remove(old)
    else:
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yields a temporary path next to `path`; renames it onto `path`.

    The parent directory is created. What the block writes at the yielded
    path (a file or a directory) replaces `path` when the block succeeds and
    is deleted when it raises: `path` then keeps its previous content.

    Args:
        path: the final file or directory.
        suffix: ending of the temporary name (e.g. ".keras", which
            `model.save` requires).

    Raises:
        WriteError: an `OSError` of the write (a full or read-only disk),
            as one line naming `path`.
    """
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    tmp = os.path.join(
        parent, f".tmp-{os.path.basename(path)}-{uuid.uuid4().hex[:8]}{suffix}"
    )
    try:
        os.makedirs(parent, exist_ok=True)
        yield tmp
        _move_into_place(tmp, path)
    except OSError as e:
        raise WriteError(_write_error_message(path, e)) from e
    finally:
        try:
            _remove(tmp)
        except OSError:
            pass  # e.g. a read-only directory: nothing was written there


def _write_error_message(path, error):
    """One line: the path, the reason and the kept previous version."""
    if error.errno is not None:  # h5py's own text spans several lines
        reason = f"[Errno {error.errno}] {os.strerror(error.errno)}"
    else:
        reason = (str(error).strip() or type(error).__name__).splitlines()[0]
    kept = "; the previous version is kept" if os.path.lexists(path) else ""
    return f"Cannot write {path}: {reason}{kept}."


def remove_orphan_temps(directory):
    """Deletes the `atomic_path` temporaries a killed write left behind.

    Only direct children of `directory` whose names match the temporary
    pattern `.tmp-<name>-<8 hex>[suffix]` are removed; anything else is
    left alone.

    Args:
        directory: e.g. `<model_dir>/checkpoints`; missing is fine.

    Returns:
        The sorted list of removed paths.
    """
    if not os.path.isdir(directory):
        return []
    removed = []
    for name in sorted(os.listdir(directory)):
        if _TEMP_NAME.match(name):
            path = os.path.join(directory, name)
            _remove(path)
            removed.append(path)
    return removed


def jsonable(value):
    """Builtin types for JSON: str dict keys (e.g. IoU 50 -> "50")."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_json(path, obj):
    """Writes `obj` as indented, key-sorted JSON atomically; returns path."""
    with atomic_path(path, ".json") as tmp:
        with open(tmp, "w") as f:
            json.dump(jsonable(obj), f, indent=2, sort_keys=True)
            f.write("\n")
    return path
