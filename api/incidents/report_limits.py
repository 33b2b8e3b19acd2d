"""Rate limits on citizen reports, per client address and per reporter (pure: which windows a
report counts in; the counting is :class:`siaga.api.throttle.Throttle`, in the hub database).

A report is admitted only if every key it carries (its address, and its contact when given)
is under its limit; an admitted report counts against all its keys, a refused one against
none, so a flood does not lock out a reporter for longer than the window. The counts are in
the database, so several hub processes behind one proxy share one limit (docs/reports.md).
"""

from __future__ import annotations

from siaga.api.incidents.corroboration import reporter_key
from siaga.api.incidents.settings import IncidentSettings
from siaga.api.throttle import Window

__all__ = ["SCOPE_ADDRESS", "SCOPE_REPORTER", "report_windows"]

SCOPE_ADDRESS = "report.address"
SCOPE_REPORTER = "report.reporter"


def report_windows(settings: IncidentSettings, address: str,
                   contact: str | None) -> list[Window]:
    """The windows a report from ``address`` (with ``contact``) must fit in, address first."""
    windows = [Window(SCOPE_ADDRESS, address, settings.report_limit_per_address,
                      settings.report_limit_window_s)]
    reporter = reporter_key(contact)
    if reporter:
        windows.append(Window(SCOPE_REPORTER, reporter, settings.report_limit_per_reporter,
                              settings.report_limit_window_s))
    return windows
