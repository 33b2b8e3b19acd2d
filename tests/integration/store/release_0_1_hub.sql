BEGIN TRANSACTION;
CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            detail TEXT NOT NULL
        );
INSERT INTO "audit_log" VALUES(1,1.7966280558503270149e+09,'root','user.create','sari','{"role": "responder"}');
CREATE TABLE gateway_heartbeats (
    gateway TEXT PRIMARY KEY,
    last_ts REAL NOT NULL,
    received_at REAL NOT NULL,
    buffer_depth INTEGER  -- entries waiting in the gateway's buffer, from its last heartbeat
);
INSERT INTO "gateway_heartbeats" VALUES('gw-1',1795000000.0,1795000001.0,0);
CREATE TABLE gateway_tokens (
            gateway TEXT PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            issued_at REAL NOT NULL
        );
INSERT INTO "gateway_tokens" VALUES('gw-1','f39dfbf0202dc634a7734f8bbe6a77b4147336f7c6ea73e4aeffd63d4e5e64b6',1.79662805580248379705e+09);
CREATE TABLE incident_alerts_seen (
    gateway TEXT NOT NULL,
    node TEXT NOT NULL,
    detector TEXT NOT NULL,
    ts INTEGER NOT NULL,
    level INTEGER NOT NULL,
    incident_id INTEGER REFERENCES incidents (id),
    received_at REAL NOT NULL,
    PRIMARY KEY (gateway, node, detector, ts, level)
) WITHOUT ROWID;
INSERT INTO "incident_alerts_seen" VALUES('gw-1','slope-07','landslide',1795000000000,3,1,1795000001.0);
CREATE TABLE incident_clocks (
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    cycle INTEGER NOT NULL,
    agency TEXT NOT NULL,
    position INTEGER NOT NULL,
    stage TEXT NOT NULL DEFAULT 'open',
    started_at REAL NOT NULL,
    ack_due_at REAL,
    resolve_due_at REAL,
    acknowledged_at REAL,
    acknowledged_by TEXT,
    dispatched_at REAL,
    dispatched_by TEXT,
    resolved_at REAL,
    resolved_by TEXT,
    auto_resolved INTEGER NOT NULL DEFAULT 0,
    ack_escalated INTEGER NOT NULL DEFAULT 0,
    resolve_escalated INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (incident_id, cycle, agency)
);
INSERT INTO "incident_clocks" VALUES(1,0,'BPBD',0,'open',1795000000.0,1795000901.0,1795014401.0,NULL,NULL,NULL,NULL,NULL,NULL,0,0,0);
CREATE TABLE incident_escalation_rungs (
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    cycle INTEGER NOT NULL,
    agency TEXT NOT NULL,
    rung INTEGER NOT NULL,
    position TEXT NOT NULL,
    due REAL NOT NULL,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (incident_id, cycle, agency, rung)
);
CREATE TABLE incident_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    type TEXT NOT NULL,
    ts REAL NOT NULL,
    level INTEGER NOT NULL,
    status TEXT NOT NULL,
    text TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL DEFAULT '{}',
    planned_at REAL
);
INSERT INTO "incident_outbox" VALUES(1,1,'incident.opened',1795000001.0,3,'open','rain','{}',NULL);
CREATE TABLE incident_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    hazard TEXT NOT NULL,
    text TEXT NOT NULL,
    contact TEXT,
    incident_id INTEGER REFERENCES incidents (id),
    distance_m REAL
);
CREATE TABLE incident_sources (
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    detector TEXT NOT NULL,
    node TEXT NOT NULL,
    level INTEGER NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (incident_id, detector, node)
);
INSERT INTO "incident_sources" VALUES(1,'landslide','slope-07',3,1795000000.0);
CREATE TABLE incident_timeline (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    ts REAL NOT NULL,
    recorded_at REAL NOT NULL,
    kind TEXT NOT NULL,
    agency TEXT,
    actor TEXT,
    level INTEGER,
    late INTEGER NOT NULL DEFAULT 0,
    note TEXT,
    data TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO "incident_timeline" VALUES(1,1,1795000000.0,1795000000.0,'opened',NULL,NULL,NULL,0,NULL,'{"agencies": ["BPBD"], "late": false, "origin": "alert"}');
INSERT INTO "incident_timeline" VALUES(2,1,1795000000.0,1795000001.0,'alert',NULL,NULL,3,0,'rain','{"channel": null, "detector": "landslide", "explanation_en": "", "gateway": "gw-1", "node": "slope-07", "previous_level": 1, "thresholds": {}, "values": {}}');
INSERT INTO "incident_timeline" VALUES(3,1,1795000000.0,1795000001.0,'level',NULL,NULL,3,0,NULL,'{"detector": "landslide", "from": 1, "node": "slope-07", "to": 3}');
CREATE TABLE incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hazard TEXT NOT NULL,
    site TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'acknowledged', 'dispatched', 'resolved')),
    level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 4),
    max_level INTEGER NOT NULL CHECK (max_level BETWEEN 1 AND 4),
    agency TEXT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('alert', 'report', 'watchdog')),
    lat REAL,
    lon REAL,
    opened_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    resolved_at REAL,
    alert_count INTEGER NOT NULL DEFAULT 0,
    report_count INTEGER NOT NULL DEFAULT 0,
    late_alert_count INTEGER NOT NULL DEFAULT 0,
    opened_late INTEGER NOT NULL DEFAULT 0,
    confidence REAL NOT NULL DEFAULT 0,
    unconfirmed INTEGER NOT NULL DEFAULT 0,
    reopen_count INTEGER NOT NULL DEFAULT 0
);
INSERT INTO "incidents" VALUES(1,'landslide','bumiaji-slope','open',3,3,'BPBD','alert',-7.8375,112.5361,1795000000.0,1795000001.0,NULL,1,0,0,0,0.8,0,0);
CREATE TABLE notify_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id INTEGER NOT NULL REFERENCES incident_outbox (id),
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    address TEXT NOT NULL,
    level INTEGER NOT NULL,
    payload TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
        ('pending', 'sending', 'sent', 'delivered', 'failed', 'superseded')),
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL,
    lease_until REAL,
    created_at REAL NOT NULL,
    sent_at REAL,
    provider_id TEXT,
    error TEXT
);
CREATE TABLE notify_incident_levels (
    incident_id INTEGER PRIMARY KEY REFERENCES incidents (id),
    level INTEGER NOT NULL
);
CREATE TABLE registry_entries (
            kind TEXT NOT NULL CHECK (kind IN ('site', 'node', 'gateway')),
            id TEXT NOT NULL,
            body TEXT,
            origin TEXT NOT NULL CHECK (origin IN ('file', 'api')),
            deleted INTEGER NOT NULL DEFAULT 0,
            updated_at REAL NOT NULL,
            PRIMARY KEY (kind, id)
        );
INSERT INTO "registry_entries" VALUES('site','bumiaji-slope','{"name":"Bumiaji slope","desa":"Bumiaji","kecamatan":"Bumiaji","lat":-7.8375,"lon":112.5361,"kind":"","zones":[]}','api',0,1.79662805579696106912e+09);
CREATE TABLE staff (
            username TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            agency TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('viewer', 'responder', 'admin')),
            password_hash TEXT NOT NULL,
            created_at REAL NOT NULL
        , disabled INTEGER NOT NULL DEFAULT 0);
INSERT INTO "staff" VALUES('sari','Sari','BPBD','responder','scrypt$16384$8$1$Lksg30vgeeKUMiBlIokiMg==$gZK1e1Tm7gQlkIrSel4MIHLIePCoBoKoMe5XWiwvR/k=',1.79662805577666091923e+09,0);
CREATE TABLE staff_contacts (
            username TEXT PRIMARY KEY REFERENCES staff(username) ON DELETE CASCADE,
            position TEXT,
            language TEXT CHECK (language IN ('id', 'en')),
            email TEXT,
            sms TEXT,
            whatsapp TEXT,
            telegram_chat TEXT,
            telegram_user TEXT UNIQUE,
            channels TEXT NOT NULL DEFAULT '[]'
        );
CREATE TABLE staff_tokens (
            token_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL REFERENCES staff(username) ON DELETE CASCADE,
            issued_at REAL NOT NULL,
            expires_at REAL NOT NULL
        );
CREATE TABLE telegram_link_codes (
            code_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL REFERENCES staff(username) ON DELETE CASCADE,
            expires_at REAL NOT NULL
        );
CREATE INDEX staff_tokens_expiry ON staff_tokens(expires_at);
CREATE UNIQUE INDEX incidents_one_open
    ON incidents (hazard, site) WHERE status != 'resolved';
CREATE INDEX incidents_by_key ON incidents (hazard, site, resolved_at);
CREATE INDEX incidents_by_opened ON incidents (opened_at);
CREATE INDEX incident_clocks_by_agency ON incident_clocks (agency, started_at);
CREATE INDEX incident_clocks_pending ON incident_clocks (stage, ack_due_at);
CREATE INDEX incident_timeline_by_incident ON incident_timeline (incident_id, ts);
CREATE INDEX incident_outbox_unplanned ON incident_outbox (id)
    WHERE planned_at IS NULL;
CREATE INDEX notify_deliveries_due
    ON notify_deliveries (channel, status, not_before);
CREATE INDEX notify_deliveries_by_incident
    ON notify_deliveries (incident_id, channel, address, status);
CREATE INDEX notify_deliveries_by_provider
    ON notify_deliveries (channel, provider_id);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('incidents',1);
INSERT INTO "sqlite_sequence" VALUES('incident_timeline',3);
INSERT INTO "sqlite_sequence" VALUES('incident_outbox',1);
INSERT INTO "sqlite_sequence" VALUES('audit_log',1);
COMMIT;
