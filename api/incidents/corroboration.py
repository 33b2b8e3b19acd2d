"""When citizen reports confirm each other (pure: the reports in, the group out).

A lone report waits in triage for a duty officer. Reports of one hazard near each other
within a window confirm each other when enough of them are *independent*: no two from the
same client address, and no two with the same contact (a report without a contact differs
from every contact). One sender (one address, one phone) thus never confirms itself, however
many reports it sends; only ``report_confirm_count`` different senders do. Several senders
behind one address (a campus, a carrier's NAT) count as one: the cautious side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from siaga.api.incidents.geo import haversine_m

__all__ = ["PendingReport", "independent_group", "reporter_key"]


def reporter_key(contact: str | None) -> str:
    """A contact as corroboration compares it: case and spaces ignored (``0812 3456 789`` =
    ``08123456789``, as the report limits do); "" for none."""
    return "".join((contact or "").lower().split())


@dataclass(frozen=True, slots=True)
class PendingReport:
    """A report waiting in triage, as corroboration sees it."""

    id: int
    received_at: float
    lat: float
    lon: float
    address_key: str  # a hash of the client address
    reporter_key: str  # the contact, normalised; "" when none was given


def independent_group(new: PendingReport, pending: Sequence[PendingReport], *,
                      radius_m: float, window_s: float) -> list[PendingReport]:
    """``new`` and the pending reports within ``radius_m`` of it and ``window_s`` before it
    that are independent of every report already taken, earliest first (``new`` last)."""
    addresses = {new.address_key}
    reporters = {new.reporter_key} - {""}
    group: list[PendingReport] = []
    for p in sorted(pending, key=lambda r: (r.received_at, r.id)):
        if p.id == new.id or not new.received_at - window_s <= p.received_at <= new.received_at:
            continue
        if haversine_m(new.lat, new.lon, p.lat, p.lon) > radius_m:
            continue
        if p.address_key in addresses or (p.reporter_key and p.reporter_key in reporters):
            continue
        addresses.add(p.address_key)
        if p.reporter_key:
            reporters.add(p.reporter_key)
        group.append(p)
    return [*group, new]
