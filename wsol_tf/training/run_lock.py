"""One run per `model_dir`: an OS file lock taken before any write.

`<model_dir>/.lock` is locked with `filelock` (`flock` on POSIX), which the
operating system releases when the holding process ends, however it ends
(`kill -9`, a crash, a reboot). While holding it, the run writes its pid,
host name and start time into the lock file itself, so a second run into
the same directory is refused with one line naming the holder. A record
left by a holder that died without releasing is reported when its lock
is taken over.
"""

import contextlib
import datetime
import json
import os
import socket

import filelock

from wsol_tf.errors import RunDirLockedError
from wsol_tf.errors import WriteError

LOCK_NAME = ".lock"


def _describe(holder):
    return (
        f"pid {holder.get('pid')} on {holder.get('host')}, started "
        f"{holder.get('started')}"
    )


def _parse(text):
    try:
        holder = json.loads(text)
    except ValueError:
        return None
    return holder if isinstance(holder, dict) else None


def _record(model_dir):
    """The `on_acquired` hook: reports a dead holder's record, writes ours."""

    def write(fd):
        stale = _parse(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
        if stale:
            print(
                f"Taking over the stale lock of {model_dir} "
                f"({_describe(stale)}, no longer running).",
                flush=True,
            )
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)

    return write


def acquire(model_dir):
    """Locks `<model_dir>/.lock` for this process; returns the held lock.

    The lock is held until `release`, or until the returned object is
    garbage collected or the process ends.

    Raises:
        RunDirLockedError: another process (or another `acquire` of this
            one) holds it.
        WriteError: the directory or the lock file cannot be written.
    """
    path = os.path.join(model_dir, LOCK_NAME)
    try:
        os.makedirs(model_dir, exist_ok=True)
    except OSError as e:
        raise WriteError(f"Cannot create model_dir {model_dir}: {e}") from e
    lock = filelock.FileLock(
        path, timeout=0, thread_local=False, on_acquired=_record(model_dir)
    )
    try:
        lock.acquire()
    except filelock.Timeout:
        try:
            with open(path) as f:
                holder = _parse(f.read())
        except OSError:
            holder = None
        if holder is None:
            raise RunDirLockedError(
                f"{model_dir} is locked by another run ({path} names no "
                "holder yet): use another --model_dir, or wait for that run."
            ) from None
        raise RunDirLockedError(
            f"{model_dir} is used by another run ({_describe(holder)}): use "
            "another --model_dir, or wait for that run."
        ) from None
    except OSError as e:
        raise WriteError(f"Cannot write {path}: {e}") from e
    return lock


def release(lock):
    """Removes the lock file, then releases the OS lock."""
    # Unlinked while held: a run waiting on the old file sees it gone
    # (filelock checks) and locks a new one.
    with contextlib.suppress(OSError):
        os.remove(lock.lock_file)
    lock.release()


@contextlib.contextmanager
def run_dir_lock(model_dir, enabled=True):
    """Holds the lock of `model_dir` for the block (see `acquire`)."""
    lock = acquire(model_dir) if enabled else None
    try:
        yield lock
    finally:
        if lock is not None:
            release(lock)
