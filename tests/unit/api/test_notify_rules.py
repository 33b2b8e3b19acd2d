"""Who is told what, on which channel and when; what the message says (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from siaga.api.errors import ConfigError
from siaga.api.notify.message import Notice, render
from siaga.api.notify.rules import Contact, IncidentFacts, quiet_until, targets_for
from siaga.api.notify.settings import NotifySettings
from siaga.api.settings import settings_from_mapping

TZ = "Asia/Jakarta"
# 2026-12-07 02:00 WIB (19:00 UTC the day before): inside the default quiet hours.
NIGHT = datetime(2026, 12, 6, 19, 0, tzinfo=UTC).timestamp()
DAY = datetime(2026, 12, 7, 3, 0, tzinfo=UTC).timestamp()  # 10:00 WIB

SECRET = "s" * 20
BASE = {
    "enabled": True,
    "webhook": {"secret": SECRET},
    "email": {"host": "mail.local", "sender": "siaga@batu.go.id"},
    "telegram": {"token": "1234567890:abc", "webhook_secret": "t" * 20},
    "sms": {"http": {"url": "http://sms.local/send"}},
    "groups": {"bpbd-ops": {"telegram_chat": "-1001234", "webhook": "http://ops.local/hook"}},
}

SARI = Contact("sari", "BPBD", "responder", position="duty_officer",
               addresses={"telegram": "111", "email": "sari@batu.go.id", "sms": "+62811111"})
KEPALA = Contact("kepala", "BPBD", "admin", position="head_of_section", language="en",
                 addresses={"email": "kasi@batu.go.id", "sms": "+62822222"},
                 channels=("sms",))
BUDI = Contact("budi", "PMK", "responder", addresses={"telegram": "333"})
PEOPLE = [SARI, KEPALA, BUDI]
RUNG0 = {"BPBD": "duty_officer", "PMK": "duty_officer"}


def notify(**extra: object) -> NotifySettings:
    return NotifySettings.model_validate({**BASE, **extra})


def facts(level: int, hazard: str = "landslide", agencies: tuple[str, ...] = ("BPBD",),
          site: str = "bumiaji-slope") -> IncidentFacts:
    return IncidentFacts(agencies=agencies, hazard=hazard, site=site, level=level)


def sent(targets: list) -> set[tuple[str, str]]:
    return {(t.channel, t.recipient) for t in targets}


def test_a_rule_picks_agency_level_hazard_and_site() -> None:
    s = notify(rules=[{"agencies": ["BPBD"], "hazards": ["landslide"], "min_level": 3,
                       "channels": ["telegram", "webhook"],
                       "to": ["position:duty_officer", "group:bpbd-ops"]}])
    got = targets_for(s, "opened", facts(3), PEOPLE, now=DAY, timezone=TZ, first_rung=RUNG0)
    assert sent(got) == {("telegram", "user:sari"), ("telegram", "group:bpbd-ops"),
                         ("webhook", "group:bpbd-ops")}
    assert targets_for(s, "opened", facts(2), PEOPLE, now=DAY, timezone=TZ,
                       first_rung=RUNG0) == []
    assert targets_for(s, "opened", facts(3, hazard="flood"), PEOPLE, now=DAY, timezone=TZ,
                       first_rung=RUNG0) == []
    site_rule = notify(rules=[{"sites": ["other"], "channels": ["email"], "to": ["agency"]}])
    assert targets_for(site_rule, "opened", facts(3), PEOPLE, now=DAY, timezone=TZ,
                       first_rung=RUNG0) == []


def test_awas_always_reaches_the_first_rung_even_without_rules() -> None:
    got = targets_for(notify(), "opened", facts(4, agencies=("BPBD", "PMK")), PEOPLE,
                      now=NIGHT, timezone=TZ, first_rung=RUNG0)
    # Sari holds the first rung; PMK has nobody in it, so its responders are told.
    assert sent(got) == {("telegram", "user:sari"), ("email", "user:sari"),
                         ("sms", "user:sari"), ("telegram", "user:budi")}
    assert all(t.not_before == NIGHT for t in got)  # quiet hours never hold Awas back
    assert targets_for(notify(), "opened", facts(3), PEOPLE, now=DAY, timezone=TZ,
                       first_rung=RUNG0) == []


def test_quiet_hours_hold_lower_levels_until_they_end() -> None:
    s = notify(quiet_hours={"start": "22:00", "end": "06:00"},
               rules=[{"min_level": 2, "channels": ["telegram"], "to": ["agency"]}])
    (t,) = targets_for(s, "opened", facts(3), PEOPLE, now=NIGHT, timezone=TZ,
                       first_rung=RUNG0)
    assert datetime.fromtimestamp(t.not_before, UTC) == datetime(2026, 12, 6, 23, 0, tzinfo=UTC)
    (t,) = targets_for(s, "opened", facts(3), PEOPLE, now=DAY, timezone=TZ, first_rung=RUNG0)
    assert t.not_before == DAY
    assert quiet_until(s.quiet_hours, 4, NIGHT, TZ) == NIGHT
    # A window that does not cross midnight.
    lunch = notify(quiet_hours={"start": "09:00", "end": "11:00", "min_level": 3}).quiet_hours
    assert quiet_until(lunch, 2, DAY, TZ) == DAY + 3600
    assert quiet_until(lunch, 3, DAY, TZ) == DAY


def test_escalation_goes_to_the_rung_on_their_own_channels_in_their_language() -> None:
    s = notify(rules=[{"channels": ["telegram"], "to": ["agency"]}])
    (t,) = targets_for(s, "escalation", facts(3), PEOPLE, now=DAY, timezone=TZ,
                       first_rung=RUNG0, escalation=("BPBD", "head_of_section"))
    assert (t.channel, t.recipient, t.address, t.language) == (
        "sms", "user:kepala", "+62822222", "en")


def test_one_message_per_channel_and_address_however_many_rules_match() -> None:
    s = notify(rules=[{"channels": ["telegram"], "to": ["agency"]},
                      {"channels": ["telegram"], "to": ["user:sari", "position:duty_officer"]}])
    got = targets_for(s, "opened", facts(4), PEOPLE, now=DAY, timezone=TZ, first_rung=RUNG0)
    assert [t.address for t in got if t.channel == "telegram"].count("111") == 1


def test_resolution_follows_on_resolve_at_any_level() -> None:
    s = notify(rules=[{"channels": ["telegram"], "to": ["agency"], "min_level": 4},
                      {"channels": ["email"], "to": ["agency"], "on_resolve": False}])
    got = targets_for(s, "resolved", facts(1), PEOPLE, now=DAY, timezone=TZ, first_rung=RUNG0)
    # Kepala has no Telegram; the email rule does not follow resolutions.
    assert sent(got) == {("telegram", "user:sari")}


def test_rules_that_name_what_is_not_configured_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"notify\.rules\[0\]\.channels"):
        settings_from_mapping({"notify": {"rules": [{"channels": ["whatsapp"],
                                                     "to": ["agency"]}]}})
    with pytest.raises(ConfigError, match=r"group"):
        settings_from_mapping({"notify": {**BASE, "rules": [
            {"channels": ["webhook"], "to": ["group:nobody"]}]}})
    with pytest.raises(ConfigError, match=r"notify\.rules\[0\]\.to"):
        settings_from_mapping({"notify": {**BASE, "rules": [
            {"channels": ["email"], "to": ["everyone"]}]}})
    with pytest.raises(ConfigError, match=r"notify.quiet_hours.start"):
        settings_from_mapping({"notify": {"quiet_hours": {"start": "25:00"}}})
    with pytest.raises(ConfigError, match=r"notify.webhook.secret"):
        settings_from_mapping({"notify": {"webhook": {"secret": "short"}}})


NOTICE = Notice(incident_id=42, kind="opened", level=4, hazard="landslide",
                site="Lereng Bumiaji", agency="BPBD", explanation="Pergerakan tanah 12 mm/jam",
                explanation_en="Ground moving 12 mm/h", at=DAY,
                link="https://siaga.batu.go.id/dashboard/#/incident/42")


def test_message_is_short_indonesian_by_default_and_english_per_recipient() -> None:
    t = render(NOTICE, "id", TZ)
    assert t.subject == "[AWAS] Tanah longsor - Lereng Bumiaji (Insiden baru)"
    assert t.body.splitlines() == [
        t.subject, "Pergerakan tanah 12 mm/jam", "Waktu: 07/12/2026 10:00 WIB",
        "https://siaga.batu.go.id/dashboard/#/incident/42"]
    en = render(NOTICE, "en", TZ)
    assert en.subject == "[WARNING] Landslide - Lereng Bumiaji (New incident)"
    assert "Ground moving 12 mm/h" in en.body and "2026-12-07 10:00 WIB" in en.body
    assert len(t.body) < 200
    assert t.params() == ["AWAS", "Tanah longsor", "Lereng Bumiaji",
                          "Pergerakan tanah 12 mm/jam",
                          "07/12/2026 10:00 WIB https://siaga.batu.go.id/dashboard/#/incident/42"]


def test_an_escalation_says_who_did_not_answer() -> None:
    from dataclasses import replace

    t = render(replace(NOTICE, kind="escalation", escalation_position="head_of_section"),
               "id", TZ)
    assert "ESKALASI" in t.subject
    assert "BPBD belum menanggapi; Anda diberi tahu sebagai kepala seksi." in t.body
    en = render(replace(NOTICE, kind="escalation", escalation_position="head_of_section"),
                "en", TZ)
    assert "BPBD has not acknowledged; you are told as head of section." in en.body
    custom = render(replace(NOTICE, kind="escalation", escalation_position="camat"), "id", TZ)
    assert "sebagai camat." in custom.body  # a configured position beyond the defaults
