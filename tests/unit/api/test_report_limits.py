"""The sliding-window arithmetic behind the login throttles and citizen-report limits (pure,
time passed in), and which windows a report counts in."""

from __future__ import annotations

from siaga.api.incidents.report_limits import SCOPE_ADDRESS, SCOPE_REPORTER, report_windows
from siaga.api.incidents.settings import IncidentSettings
from siaga.api.login_guard import LoginLimits, address_wait_s, username_wait_s
from siaga.api.throttle import Window, window_wait_s


def test_limit_within_the_window_then_free_again() -> None:
    times = [0.0, 10.0, 20.0]
    assert window_wait_s(times[:2], 3, 60, 20.0) == 0
    assert window_wait_s(times, 3, 60, 30.0) == 30.0  # the oldest leaves the window at 60
    assert window_wait_s(times, 3, 60, 60.0) == 0  # the event at 0 has left the window
    assert window_wait_s([10.0, 20.0, 60.0], 3, 60, 61.0) == 9.0
    assert window_wait_s([], 1, 60, 0.0) == 0


def test_more_events_than_the_limit_wait_for_enough_of_them_to_leave() -> None:
    # Limits lowered after the events were counted: wait until only limit - 1 are inside.
    assert window_wait_s([0.0, 5.0, 10.0, 15.0], 2, 100, 20.0) == 90.0  # until 10 leaves


def test_address_and_username_waits() -> None:
    lim = LoginLimits(attempts_per_username=3, attempts_per_address=4, window_s=300,
                      backoff_max_s=8)
    assert address_wait_s([1.0, 2.0, 3.0], lim, 10.0) == 0
    assert address_wait_s([1.0, 2.0, 3.0, 4.0], lim, 10.0) == 291.0
    assert username_wait_s([1.0, 2.0], lim, 10.0) == 0
    assert username_wait_s([1.0, 2.0, 9.0], lim, 9.5) == 0.5  # 3 failures: 1 s after the last
    assert username_wait_s([1.0, 2.0, 3.0, 9.0], lim, 9.0) == 2.0  # then 2 s, 4 s ...
    assert username_wait_s([float(t) for t in range(10)], lim, 9.0) == 8.0  # at most 8 s
    assert username_wait_s([1.0, 2.0, 3.0], lim, 400.0) == 0  # all left the window


def test_a_report_counts_by_address_and_by_contact_when_it_has_one() -> None:
    settings = IncidentSettings(report_limit_per_address=10, report_limit_per_reporter=5,
                                report_limit_window_s=600)
    assert report_windows(settings, "1.2.3.4", None) == [
        Window(SCOPE_ADDRESS, "1.2.3.4", 10, 600)]
    assert report_windows(settings, "1.2.3.4", " 0812 3456 789 ") == [
        Window(SCOPE_ADDRESS, "1.2.3.4", 10, 600), Window(SCOPE_REPORTER, "08123456789", 5, 600)]
