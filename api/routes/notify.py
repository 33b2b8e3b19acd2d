"""Notification API: contact records, Telegram linking, the Telegram bot's webhook, the
WhatsApp Cloud API's status webhook and the SMS gateway's delivery reports (receipts)."""

from __future__ import annotations

import base64
import hmac
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from pydantic import BaseModel

from siaga.api.accounts import Role, Staff
from siaga.api.deps import (
    AccountsDep,
    CurrentStaff,
    DatabaseDep,
    IncidentsDep,
    NotifyDep,
    SettingsDep,
)
from siaga.api.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    problem_responses,
)
from siaga.api.incidents.lifecycle import Actor
from siaga.api.incidents.models import utc
from siaga.api.incidents.rules import StaffAction
from siaga.api.notify.contacts import ContactIn, ContactOut, contact_of, new_link_code, save_contact
from siaga.api.notify.service import NotifyService
from siaga.api.notify.settings import NotifySettings, WhatsAppSettings
from siaga.api.notify.sms import delivery_reports
from siaga.api.notify.telegram import TelegramApi, TelegramChannel
from siaga.api.notify.telegram_updates import TelegramUpdates
from siaga.api.notify.whatsapp import signature_ok, statuses

__all__ = ["router"]

router = APIRouter(tags=["notifications"])

Username = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]
_MAX_UPDATE = 64 * 1024


async def _bounded_body(request: Request, what: str) -> bytes:
    """A webhook's body, at most ``_MAX_UPDATE`` bytes (``what`` names it in the 413)."""
    body = await request.body()
    if len(body) > _MAX_UPDATE:
        raise PayloadTooLarge(f"{what} is at most {_MAX_UPDATE} bytes")
    return body


def _json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(f"{what} is not JSON") from None


def _may_edit(staff: Staff, username: str) -> None:
    if staff.username != username and not staff.has_role(Role.ADMIN):
        raise Forbidden("only admins edit another person's contact record")


@router.get("/api/v1/staff/{username}/contact", response_model=ContactOut,
            summary="A staff member's contact record (own, or any for admins)",
            responses=problem_responses(401, 403, 404))
async def get_contact(username: Username, accounts: AccountsDep, db: DatabaseDep,
                      staff: CurrentStaff) -> ContactOut:
    _may_edit(staff, username)
    await accounts.get_user(username)
    return await db.run(lambda c: contact_of(c, username))


@router.put("/api/v1/staff/{username}/contact", response_model=ContactOut,
            summary="Set position, language and addresses for notifications",
            responses=problem_responses(401, 403, 404, 422))
async def put_contact(username: Username, body: ContactIn, accounts: AccountsDep,
                      db: DatabaseDep, staff: CurrentStaff) -> ContactOut:
    _may_edit(staff, username)
    await accounts.get_user(username)

    def run(conn: Any) -> ContactOut:
        save_contact(conn, username, body)
        return contact_of(conn, username)

    return await db.run(run)


class LinkCode(BaseModel):
    code: str
    expires_at: Any
    instructions: str


def _telegram(notify: NotifyService | None,
              settings: NotifySettings) -> tuple[NotifyService, TelegramApi]:
    if notify is None or settings.telegram is None:
        raise NotFound("Telegram is not configured on this hub (notify.telegram)")
    channel = notify.channels.get("telegram")
    if not isinstance(channel, TelegramChannel):
        raise NotFound("Telegram is not configured on this hub (notify.telegram)")
    return notify, channel.api


@router.post("/api/v1/notify/telegram/link", response_model=LinkCode,
             summary="A one-time code to send to the bot, linking your Telegram",
             responses=problem_responses(401, 404))
async def telegram_link(notify: NotifyDep, hub_settings: SettingsDep, db: DatabaseDep,
                        staff: CurrentStaff) -> LinkCode:
    settings = hub_settings.notify
    service, _ = _telegram(notify, settings)
    now = service.clock()
    code = await db.run(
        lambda c: new_link_code(c, staff.username, now, settings.link_code_ttl_s))
    bot = settings.telegram.bot_name if settings.telegram else ""
    return LinkCode(code=code, expires_at=utc(now + settings.link_code_ttl_s),
                    instructions=f"Kirim /start {code} ke bot {bot}".strip())


@router.post("/api/v1/notify/telegram/webhook", include_in_schema=False)
async def telegram_webhook(
    request: Request, notify: NotifyDep, settings: SettingsDep, db: DatabaseDep,
    accounts: AccountsDep, incidents: IncidentsDep,
    secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> dict[str, bool]:
    service, api = _telegram(notify, settings.notify)
    tg = settings.notify.telegram
    assert tg is not None
    if secret is None or not hmac.compare_digest(
            secret.encode(), tg.webhook_secret.get_secret_value().encode()):
        raise Unauthorized("wrong or missing X-Telegram-Bot-Api-Secret-Token")
    update = _json(await _bounded_body(request, "an update"), "the update")
    if not isinstance(update, dict):
        raise BadRequest("the update is not a JSON object")

    async def act(username: str, action: StaffAction, incident_id: int) -> str:
        staff = await accounts.get_user(username)
        actor = Actor(username=staff.username, agency=staff.agency, role=staff.role.value,
                      sees_all=accounts.scope(staff) is None)
        incident = await incidents.act(incident_id, action, actor)
        done = "ditanggapi" if action == "ack" else "tim dikirim"
        return f"Insiden {incident.id}: {done} oleh {username}."

    await TelegramUpdates(db, api, act, service.clock).handle(update)
    return {"ok": True}


def _whatsapp(notify: NotifyService | None, settings: NotifySettings) -> WhatsAppSettings:
    if notify is None or settings.whatsapp is None:
        raise NotFound("WhatsApp is not configured on this hub (notify.whatsapp)")
    return settings.whatsapp


@router.get("/api/v1/notify/whatsapp/webhook", include_in_schema=False)
async def whatsapp_verify(
    notify: NotifyDep, settings: SettingsDep,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge", max_length=200)] = None,
) -> Response:
    """Meta's subscription check: echo the challenge when the verify token matches."""
    wa = _whatsapp(notify, settings.notify)
    expected = wa.verify_token.get_secret_value() if wa.verify_token else None
    if mode != "subscribe" or expected is None or token is None or not hmac.compare_digest(
            token.encode(), expected.encode()):
        raise Forbidden("wrong hub.mode or hub.verify_token")
    return Response(challenge or "", media_type="text/plain")


@router.post("/api/v1/notify/whatsapp/webhook", include_in_schema=False)
async def whatsapp_statuses(
    request: Request, notify: NotifyDep, settings: SettingsDep,
    signature: Annotated[str | None, Header(alias="X-Hub-Signature-256")] = None,
) -> dict[str, int]:
    """Delivery receipts: each ``delivered``/``read``/``failed`` status updates its delivery."""
    wa = _whatsapp(notify, settings.notify)
    if wa.app_secret is None:
        raise NotFound("WhatsApp status webhooks are off (notify.whatsapp.app_secret)")
    body = await _bounded_body(request, "a webhook body")
    if not signature_ok(wa.app_secret.get_secret_value(), body, signature):
        raise Unauthorized("wrong or missing X-Hub-Signature-256")
    doc = _json(body, "the body")
    assert notify is not None
    found = [(m, st, r, None) for m, st, r in statuses(doc)]
    return {"updated": await notify.record_receipts("whatsapp", found)}


def _basic_password(header: str | None) -> str | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2]


@router.post("/api/v1/notify/sms/report", responses=problem_responses(401, 404, 400, 413))
async def sms_delivery_reports(
    request: Request, notify: NotifyDep, settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, int]:
    """The HTTP SMS gateway's delivery reports (Infobip's report shape, api/notify/sms.py):
    HTTP Basic auth with ``notify.sms.http.report_secret`` as password; each final report
    marks its delivery ``delivered`` or ``failed`` (with the reason) in the timeline and
    /metrics. Answers how many deliveries changed; unknown or repeated reports change none."""
    sms = settings.notify.sms
    if notify is None or sms is None or sms.http is None or sms.http.report_secret is None:
        raise NotFound("SMS delivery reports are off (notify.sms.http.report_secret)")
    password = _basic_password(authorization)
    expected = sms.http.report_secret.get_secret_value()
    if password is None or not hmac.compare_digest(password.encode(), expected.encode()):
        raise Unauthorized("wrong or missing Basic credentials")
    doc = _json(await _bounded_body(request, "a report body"), "the body")
    return {"updated": await notify.record_receipts("sms", delivery_reports(doc))}
