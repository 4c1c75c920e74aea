"""Runs independent chunk jobs on all CPU cores (processes or threads).

Most of the box search is many small numpy calls that hold the GIL, so
threads overlap poorly; forked worker processes scale with the cores. Forked
children inherit the inputs (no pickling) and return small result arrays.
Forking a process that runs a multi-threaded runtime (TensorFlow, PyTorch,
JAX) is not safe in general, so "auto" only forks when none is imported and
falls back to threads otherwise.
"""

import concurrent.futures
import multiprocessing
import sys
import threading

_LOCK = threading.Lock()
_SHARED = None  # (fn, args, jobs) seen by forked children
_THREADED_RUNTIMES = ("tensorflow", "torch", "jax")
MODES = ("auto", "process", "thread")


def fork_available():
    return "fork" in multiprocessing.get_all_start_methods()


def _run_job(index):
    fn, args, jobs = _SHARED
    return fn(*args, jobs[index])


def parallel_map(fn, args, jobs, workers, mode="auto"):
    """`[fn(*args, job) for job in jobs]`, over `workers` cores.

    Args:
        fn: module-level function.
        args: tuple of leading arguments (numpy arrays are inherited by
            forked workers, not copied).
        jobs: list of job descriptions (e.g. slices).
        workers: number of processes / threads.
        mode: "auto" (processes when forking is safe, else threads),
            "process" or "thread".
    """
    if mode not in MODES:
        raise ValueError(f"Expected mode in {MODES}. Received: mode={mode!r}")
    workers = min(int(workers), len(jobs))
    if workers <= 1:
        return [fn(*args, job) for job in jobs]
    use_fork = fork_available() and (
        mode == "process"
        or (
            mode == "auto"
            and not any(name in sys.modules for name in _THREADED_RUNTIMES)
        )
    )
    if use_fork:
        global _SHARED
        with _LOCK:
            _SHARED = (fn, args, jobs)
            try:
                context = multiprocessing.get_context("fork")
                with context.Pool(workers) as pool:
                    return pool.map(_run_job, range(len(jobs)), chunksize=1)
            finally:
                _SHARED = None
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda job: fn(*args, job), jobs))
