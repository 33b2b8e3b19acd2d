"""The JSON library of the gateway's per-message path: orjson where it is installed, the
standard library where it is not.

firmware_bridge itself needs only the standard library; the ``gateway`` group installs
orjson (pyproject.toml), which has wheels for every platform a gateway runs on (x86_64,
aarch64, armv7l; docs/gateway.md "Performance" has the measured gain). Each user keeps a
standard-library path giving the same values, and its tests run both: ``ORJSON`` says
which one runs here.

Where orjson differs from the standard library, the users handle it:

- ``loads`` reads an integer outside [-2**63, 2**64) as a float, and refuses NaN,
  Infinity, numbers that overflow a float, lone surrogates, a BOM and nesting past 1,024
  levels (the standard library takes them all);
- ``dumps`` writes NaN and infinity as ``null`` (the standard library raises ValueError
  with ``allow_nan=False``), refuses integers outside 64 bits and strings with lone
  surrogates (TypeError), and writes some floats in another form of the same value
  (``1e-7`` for ``1e-07``, ``0.00001`` for ``1e-05``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

orjson_loads: Callable[[bytes], Any] | None
orjson_dumps: Callable[[Any], bytes] | None
try:
    import orjson

    orjson_loads, orjson_dumps = orjson.loads, orjson.dumps
except ImportError:  # a stdlib-only install (firmware_bridge alone): the standard-library paths
    orjson_loads = orjson_dumps = None

ORJSON = orjson_loads is not None

# orjson reads an integer beyond 64 bits as a float; no such float is below this in size.
INT64_FLOAT_LIMIT = 2.0**63
