"""What the host lets a process do, checked once at import.

On Linux a process can be denied executable memory it makes itself: systemd's
``MemoryDenyWriteExecute=yes``, a common hardening setting for services, sets the
kernel's memory-deny-write-execute flag (``PR_SET_MDWE``). Polars checks the processor at
import by running a few instructions it writes to memory, which such a host refuses (the
import fails with "could not execute mprotect for CPUID check"); Polars' own switch
``POLARS_SKIP_CPU_CHECK`` skips that check, so kaskad sets it where the flag is on (and
the user has not set it). kaskad's compiled trees find out for themselves
(:mod:`kaskad.models.kernels.native`).
"""

from __future__ import annotations

import os
import sys

_PR_GET_MDWE = 66  # prctl(2): the memory-deny-write-execute flags of this process


def exec_memory_denied() -> bool:
    """Whether this process runs with the kernel's memory-deny-write-execute flag."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        flags: int = ctypes.CDLL(None, use_errno=True).prctl(_PR_GET_MDWE, 0, 0, 0, 0)
    except (OSError, AttributeError):  # no C library to ask: assume the usual host
        return False
    return flags > 0  # -1 (EINVAL): a kernel before 6.3, which has no such flag


def let_polars_import() -> None:
    """Skip Polars' processor check where the host would refuse it (see the module)."""
    if "POLARS_SKIP_CPU_CHECK" not in os.environ and exec_memory_denied():
        os.environ["POLARS_SKIP_CPU_CHECK"] = "1"
