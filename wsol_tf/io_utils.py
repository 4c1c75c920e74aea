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
import shutil
import uuid

import numpy as np


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
    is deleted when it raises.

    Args:
        path: the final file or directory.
        suffix: ending of the temporary name (e.g. ".keras", which
            `model.save` requires).
    """
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(
        parent, f".tmp-{os.path.basename(path)}-{uuid.uuid4().hex[:8]}{suffix}"
    )
    try:
        yield tmp
        _move_into_place(tmp, path)
    finally:
        _remove(tmp)


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
