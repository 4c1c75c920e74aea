"""One run per `model_dir`: an exclusive lock file taken before any write.

`<model_dir>/.lock` is created with `O_CREAT | O_EXCL` and holds the
holder's pid, host name, start time and (Linux) process start tick. A
second run into the same directory is refused with one line naming the
holder. A lock whose process is gone (a `kill -9`, a crash, a reboot) is
stale: on the same host a dead pid, or a live pid whose start tick differs
(the pid was reused), is taken over with a message.
"""

import contextlib
import datetime
import json
import os
import socket

from wsol_tf.errors import RunDirLockedError
from wsol_tf.errors import WriteError

LOCK_NAME = ".lock"


def _start_tick(pid):
    """The process start time in clock ticks (Linux), else None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            # Field 22; the command name (field 2) may contain spaces.
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _alive(holder):
    """Whether the process that wrote `holder` still runs on this host."""
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    tick = holder.get("start_tick")
    return tick is None or _start_tick(pid) in (None, tick)


def _read(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None  # being written, or garbage: treated as held


def _describe(holder):
    return (
        f"pid {holder.get('pid')} on {holder.get('host')}, started "
        f"{holder.get('started')}"
    )


def acquire(model_dir):
    """Takes `<model_dir>/.lock` for this process; returns its path.

    Raises:
        RunDirLockedError: a live run (or a run on another host) holds it.
        WriteError: the directory cannot be created or written.
    """
    path = os.path.join(model_dir, LOCK_NAME)
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "start_tick": _start_tick(os.getpid()),
    }
    try:
        os.makedirs(model_dir, exist_ok=True)
    except OSError as e:
        raise WriteError(f"Cannot create model_dir {model_dir}: {e}") from e
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read(path)
            if holder is None:
                raise RunDirLockedError(
                    f"{model_dir} is locked by another run ({path} cannot be "
                    "read): use another --model_dir, or delete the lock file "
                    "if no run uses this directory."
                )
            if holder.get("host") != me["host"] or _alive(holder):
                raise RunDirLockedError(
                    f"{model_dir} is used by another run ({_describe(holder)}"
                    f"): use another --model_dir, or wait for that run; "
                    f"delete {path} only if that run is gone."
                )
            print(
                f"Taking over the stale lock of {model_dir} "
                f"({_describe(holder)}, no longer running).",
                flush=True,
            )
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            continue
        except OSError as e:
            raise WriteError(f"Cannot write {path}: {e}") from e
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        return path
    raise RunDirLockedError(f"Could not take {path}: another run races for it.")


def release(path):
    """Removes the lock file if this process still holds it."""
    holder = _read(path)
    if holder and holder.get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            os.remove(path)


@contextlib.contextmanager
def run_dir_lock(model_dir, enabled=True):
    """Holds the lock of `model_dir` for the block (see `acquire`)."""
    path = acquire(model_dir) if enabled else None
    try:
        yield path
    finally:
        if path:
            release(path)
