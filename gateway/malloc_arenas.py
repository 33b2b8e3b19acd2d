"""One glibc malloc arena for the gateway process (the < 80 MB budget of issue 17).

glibc gives a thread that finds the arena busy an arena of its own (up to 8 per core);
in a flood the gateway's paho, core and uplink threads each grew one. The side-by-side
kit's flood (100,000 messages, HTTP uplink, one run each, load average 8-11,
2026-12-07 10:08-10:12 UTC) peaked at 90.7-91.0 MB with glibc's default, 85.9 MB with
MALLOC_ARENA_MAX=2 and 81.2-82.5 MB with 1, at the same gateway CPU per reading
(0.043-0.045 against 0.043-0.050 CPU s per 1k readings): Python's small objects come
from its own allocator, so the one arena's lock is rarely contended.

``MALLOC_ARENA_MAX`` in the environment wins (glibc reads it at start). Without glibc's
``mallopt`` (macOS) nothing changes.
"""

from __future__ import annotations

import ctypes
import os

M_ARENA_MAX = -8  # glibc's malloc.h
ARENAS = 1


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas; call before the process starts its threads.
    True when the cap was set."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
