"""What the uplink tests run over both places of the transport (``uplink.sender``)."""

from __future__ import annotations

import pytest

SENDERS = pytest.mark.parametrize("sender", ["process", "thread"])  # uplink.sender
