"""Hypothesis profiles: ``fast`` in the test command, ``thorough`` for nightly runs.

Chosen by ``HYPOTHESIS_PROFILE`` (default ``fast``), e.g.
``HYPOTHESIS_PROFILE=thorough .venv/bin/python -m pytest tests/unit``. Tests state no example
counts of their own, except those whose every example is costly (a live hub request, a
simulated scenario): they take ``costly(n)``, n examples in the fast profile and ten times
as many in the thorough one. No deadline in either: the suite runs on a shared 2-core
machine, and speed targets live in the benchmarks, never in tests.
"""

from __future__ import annotations

import os

from hypothesis import settings

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "fast")
THOROUGH_FACTOR = 10

settings.register_profile("fast", max_examples=100, deadline=None)
settings.register_profile("thorough", max_examples=100 * THOROUGH_FACTOR, deadline=None)
settings.load_profile(PROFILE)


def costly(fast_examples: int) -> int:
    """The example count of a test whose examples are expensive, under the loaded profile."""
    return fast_examples * THOROUGH_FACTOR if PROFILE == "thorough" else fast_examples
