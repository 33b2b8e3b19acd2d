from __future__ import annotations

from collections.abc import Iterator

import pytest

from siaga.simulators.servers import InfluxDB, Mosquitto
from siaga.simulators.smtp_inbox import SmtpInbox
from tests import hypothesis_profiles  # noqa: F401 - loads the profile HYPOTHESIS_PROFILE names

# Hub fixtures (hub_settings_factory, hub, live_hub, ...): see tests/api_fixtures.py;
# the database under test on both engines (hub_db, postgres): tests/database_fixtures.py.
pytest_plugins = ("tests.api_fixtures", "tests.database_fixtures")


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[Mosquitto]:
    """One broker for the session; tests use their own topics or client ids."""
    broker = Mosquitto().start()
    yield broker
    broker.cleanup()


@pytest.fixture
def fresh_mosquitto() -> Iterator[Mosquitto]:
    """A broker of the test's own, for tests that stop and restart it."""
    broker = Mosquitto().start()
    yield broker
    broker.cleanup()


@pytest.fixture(scope="session")
def influxdb() -> Iterator[InfluxDB]:
    server = InfluxDB().start()
    yield server
    server.cleanup()


@pytest.fixture
def inbox() -> Iterator[SmtpInbox]:
    """A real SMTP server (aiosmtpd) of the test's own; the mails it took in ``messages``."""
    box = SmtpInbox().start()
    try:
        yield box
    finally:
        box.stop()
