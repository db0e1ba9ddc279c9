"""Imported by the data loader's helper processes: die with the parent instead of lingering as orphans.

A training run killed with SIGKILL cannot clean up; without this its forkserver and DataLoader workers
(hundreds of MB each) live on. On Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` makes the kernel kill a
process when its parent dies. Elsewhere this does nothing.
"""

from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> bool:
    """Ask the kernel to SIGKILL this process when its parent exits; True where that is supported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() == 1:  # the parent died before the call: nobody is left to wait for us
        os._exit(0)
    return True


die_with_parent()
