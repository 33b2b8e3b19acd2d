"""The incident engine: alerts, citizen reports and silent gateways become incidents routed
to agencies, timed against an SLA and scored (docs/incidents.md).

    settings.py    IncidentSettings, the ``[incidents]`` section
    rules.py       pure rules: dedupe key, routing, level, lateness, reopen, deadlines, lifecycle
    scorecard.py   pure report-card statistics (median, nearest-rank p90, rapor merah)
    geo.py         haversine distance for citizen reports
    cap.py         an incident as a CAP 1.2 message
    models.py      the API's records: Incident, TimelineEntry, AgencyClock, requests, Scorecard
    schema.py      the SQLite tables (the partial unique index that makes dedupe hold)
    store.py       row operations shared by intake and lifecycle
    intake.py      alerts and citizen reports -> transactions
    heartbeats.py  gateway heartbeats, and the watchdog's silences -> transactions
    lifecycle.py   ack / dispatch / resolve per agency, SLA escalation
    queries.py     reads, filtered and scoped by agency
    service.py     IncidentService (asyncio) and the ``open_incidents`` hook of api/services.py
    report_service.py  CitizenReportService (asyncio): report limits, intake, triage, verify,
                   reject; publishes through the IncidentService
    errors.py      the exception tree
"""
