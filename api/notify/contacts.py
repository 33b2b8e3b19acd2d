"""Staff contact records and Telegram link codes, kept with the staff accounts.

``staff_contacts`` holds per person: their position in the escalation chain
(``duty_officer``, ``head_of_section``, ``head``, ...), language, an address per channel and
the Telegram chat linked to them. Deleting the account deletes the record.

Linking Telegram: a staff member asks for a one-time code (``POST
/api/v1/notify/telegram/link``), sends it to the bot; the bot's webhook finds the code and
stores the chat and user ids. Only the code's SHA-256 is stored; a code works once, within
``notify.link_code_ttl_s``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from siaga.api.db import Connection, transaction
from siaga.api.notify.rules import Contact
from siaga.api.notify.settings import CHANNELS, ChannelName

__all__ = [
    "ContactIn",
    "ContactOut",
    "claim_link_code",
    "contact_of",
    "ensure_schema",
    "load_contacts",
    "new_link_code",
    "save_contact",
    "staff_for_telegram_user",
]

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def ensure_schema(conn: Connection) -> None:
    conn.executescript(
        """
        CREATE TABLE IF NOT EXISTS staff_contacts (
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
        CREATE TABLE IF NOT EXISTS telegram_link_codes (
            code_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL REFERENCES staff(username) ON DELETE CASCADE,
            expires_at REAL NOT NULL
        );
        """
    )


class ContactIn(BaseModel):
    """What staff set about themselves (or an admin about them). Telegram is linked by
    sending the bot a code, never typed in."""

    model_config = ConfigDict(extra="forbid")

    position: str | None = Field(default=None, pattern=r"^[a-z0-9_]{1,64}$")
    language: Literal["id", "en"] | None = None
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
                              max_length=254)
    sms: str | None = Field(default=None, pattern=r"^\+?\d{8,15}$")
    whatsapp: str | None = Field(default=None, pattern=r"^\+?\d{8,15}$")
    channels: list[ChannelName] = Field(default_factory=list, max_length=len(CHANNELS))


class ContactOut(ContactIn):
    username: str
    telegram_linked: bool


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def save_contact(conn: Connection, username: str, c: ContactIn) -> None:
    with transaction(conn):
        conn.execute(
            "INSERT INTO staff_contacts (username, position, language, email, sms, whatsapp,"
            " channels) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (username) DO UPDATE SET"
            " position = excluded.position, language = excluded.language,"
            " email = excluded.email, sms = excluded.sms, whatsapp = excluded.whatsapp,"
            " channels = excluded.channels",
            (username, c.position, c.language, c.email, c.sms, c.whatsapp,
             json.dumps(c.channels)),
        )


def contact_of(conn: Connection, username: str) -> ContactOut:
    row = conn.execute("SELECT * FROM staff_contacts WHERE username = ?",
                       (username,)).fetchone()
    if row is None:
        return ContactOut(username=username, telegram_linked=False)
    return ContactOut(username=username, position=row["position"], language=row["language"],
                      email=row["email"], sms=row["sms"], whatsapp=row["whatsapp"],
                      channels=json.loads(row["channels"]),
                      telegram_linked=row["telegram_chat"] is not None)


def load_contacts(conn: Connection) -> list[Contact]:
    """Every staff member with the addresses they have (for the rules)."""
    rows = conn.execute(
        "SELECT s.username, s.agency, s.role, c.position, c.language, c.email, c.sms,"
        " c.whatsapp, c.telegram_chat, c.channels FROM staff s"
        " LEFT JOIN staff_contacts c ON c.username = s.username ORDER BY s.username"
    ).fetchall()
    out = []
    for r in rows:
        addresses: dict[ChannelName, str] = {}
        for ch, col in (("email", "email"), ("sms", "sms"), ("whatsapp", "whatsapp"),
                        ("telegram", "telegram_chat")):
            if r[col]:
                addresses[ch] = r[col]  # type: ignore[index]
        out.append(Contact(username=r["username"], agency=r["agency"], role=r["role"],
                           position=r["position"], language=r["language"],
                           addresses=addresses,
                           channels=tuple(json.loads(r["channels"] or "[]"))))
    return out


def new_link_code(conn: Connection, username: str, now: float, ttl_s: float) -> str:
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
    with transaction(conn):
        conn.execute("DELETE FROM telegram_link_codes WHERE username = ? OR expires_at < ?",
                     (username, now))
        conn.execute("INSERT INTO telegram_link_codes (code_hash, username, expires_at)"
                     " VALUES (?, ?, ?)", (_hash(code), username, now + ttl_s))
    return code


def claim_link_code(conn: Connection, code: str, chat_id: str, user_id: str,
                    now: float) -> str | None:
    """Link the chat to the code's account (the code is used up); None if no such code."""
    with transaction(conn):
        row = conn.execute(
            "DELETE FROM telegram_link_codes WHERE code_hash = ? AND expires_at >= ?"
            " RETURNING username", (_hash(code), now),
        ).fetchone()
        if row is None:
            return None
        username = str(row[0])
        # One Telegram user is one staff account: an old link of this user is moved.
        conn.execute("UPDATE staff_contacts SET telegram_chat = NULL, telegram_user = NULL"
                     " WHERE telegram_user = ?", (user_id,))
        conn.execute(
            "INSERT INTO staff_contacts (username, telegram_chat, telegram_user)"
            " VALUES (?, ?, ?) ON CONFLICT (username) DO UPDATE SET"
            " telegram_chat = excluded.telegram_chat, telegram_user = excluded.telegram_user",
            (username, chat_id, user_id),
        )
    return username


def staff_for_telegram_user(conn: Connection, user_id: str) -> str | None:
    row = conn.execute("SELECT username FROM staff_contacts WHERE telegram_user = ?",
                       (user_id,)).fetchone()
    return None if row is None else str(row[0])
