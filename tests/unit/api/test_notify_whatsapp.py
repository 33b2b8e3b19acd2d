"""WhatsApp status webhooks: the signature and the statuses read from Meta's payload shape."""

from __future__ import annotations

import hashlib
import hmac
import json

from siaga.api.notify.whatsapp import signature_ok, statuses


def payload(*items: dict[str, object]) -> dict[str, object]:
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp",
                                        "metadata": {"phone_number_id": "1098765"},
                                        "statuses": list(items)}}]}]}


def test_final_statuses_are_read_and_the_rest_skipped() -> None:
    doc = payload(
        {"id": "wamid.A", "status": "sent", "timestamp": "1", "recipient_id": "62812"},
        {"id": "wamid.B", "status": "delivered", "timestamp": "2", "recipient_id": "62812"},
        {"id": "wamid.C", "status": "read", "timestamp": "3", "recipient_id": "62812"},
        {"id": "wamid.D", "status": "failed", "timestamp": "4", "recipient_id": "62812",
         "errors": [{"code": 131026, "title": "Message undeliverable"}]},
        {"status": "delivered"}, "junk")
    assert statuses(doc) == [("wamid.B", "delivered", None), ("wamid.C", "delivered", None),
                             ("wamid.D", "failed", "131026 Message undeliverable")]
    for junk in (None, [], {"entry": "x"}, {"entry": [{"changes": [{"value": 5}]}]}):
        assert statuses(junk) == []


def test_signature_is_hmac_sha256_of_the_raw_body() -> None:
    body = json.dumps(payload()).encode()
    good = "sha256=" + hmac.new(b"app-secret", body, hashlib.sha256).hexdigest()
    assert signature_ok("app-secret", body, good)
    assert not signature_ok("app-secret", body + b" ", good)
    assert not signature_ok("other", body, good)
    assert not signature_ok("app-secret", body, None)
    assert not signature_ok("app-secret", body, good[7:])
