"""Errors of the incident engine, rendered as problem+json by the hub's one handler.

    api.errors.HubError
    ├── NotFound
    │   ├── IncidentNotFound      404 no such incident, or not one the caller's agency sees
    │   └── ReportNotFound        404 no such citizen report, or not one the caller's agency triages
    ├── Forbidden
    │   └── NotInvolved           403 the caller may not act for that agency on this incident
    ├── Conflict
    │   └── TransitionError       409 the step was already taken (ack twice, dispatch after resolve,
    │                                 verify a report already decided)
    └── InvalidInput
        └── BadReport             422 a citizen report that cannot be placed or read
"""

from __future__ import annotations

from siaga.api.errors import Conflict, Forbidden, InvalidInput, NotFound

__all__ = ["BadReport", "IncidentNotFound", "NotInvolved", "ReportNotFound", "TransitionError"]


class IncidentNotFound(NotFound):
    title = "Incident not found"


class ReportNotFound(NotFound):
    title = "Report not found"


class NotInvolved(Forbidden):
    title = "Agency not involved"


class TransitionError(Conflict):
    title = "Step not allowed"


class BadReport(InvalidInput):
    title = "Invalid report"
