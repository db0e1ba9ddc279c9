"""How many CPU threads uare's work uses (torch intra-op, OpenCV, OpenMP/MKL in any library).

The default takes the machine's load into account: PyTorch's own default (one thread per core) makes
every thread wait for the slowest when other processes hold some cores, so on a busy machine it is
slower than fewer threads (measured in benchmarks/RESULTS.md, "Threads"). ``uare`` uses the cores this
process may run on minus the processes running on them right now (Linux: the runnable count of
``/proc/loadavg``, median of five reads over 20 ms, ourselves excluded; elsewhere the 1-minute load
average), at least 1, unless ``--threads N`` or ``OMP_NUM_THREADS`` says otherwise. The instantaneous
count does not remember uare's own previous runs, as the 1-minute average would (a script of
back-to-back runs would then drop to one thread on an idle machine). A niced background job counts as
busy although it yields to us; pass ``--threads`` to use its core anyway.
"""

from __future__ import annotations

import os
import sys
import time

#: the variables OpenMP, MKL and OpenBLAS read when they start (set for libraries not yet imported)
_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), not all the machine's."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def others_running() -> float:
    """Other processes running now: the runnable count of ``/proc/loadavg`` less this process (median of
    five reads), or the 1-minute load average where there is no ``/proc``; 0 when neither is known."""
    try:
        counts = []
        for i in range(5):
            with open("/proc/loadavg") as f:
                counts.append(int(f.read().split()[3].split("/")[0]) - 1)
            if i < 4:
                time.sleep(0.005)
        return float(max(0, sorted(counts)[2]))
    except (OSError, ValueError, IndexError):
        try:
            return float(os.getloadavg()[0])
        except (AttributeError, OSError):
            return 0.0


def default_threads() -> int:
    """``OMP_NUM_THREADS`` when set, else the available cores minus the other running processes, >= 1."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    cores = available_cores()
    return max(1, min(cores, cores - int(others_running() + 0.5)))


def set_threads(n: int | None = None) -> int:
    """Use ``n`` threads (default: :func:`default_threads`) in torch, OpenCV and libraries imported later."""
    n = int(n) if n else default_threads()
    for var in _ENV:
        os.environ[var] = str(n)
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(n)
    if "cv2" in sys.modules:
        import cv2

        cv2.setNumThreads(n)
    return n
