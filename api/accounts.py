"""Staff accounts and their bearer tokens (gateway tokens: api/gateway_tokens.py).

Passwords are stored as scrypt hashes and tokens as SHA-256 digests (api/hashing.py). A staff
token expires after ``auth.token_ttl_s``.

Roles rank viewer < responder < admin. Scoping: a viewer or responder sees what involves their
own agency; an admin, or staff of an agency listed in ``auth.see_all_agencies``, sees all.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from siaga.api.db import INTEGRITY_ERRORS, Connection, Database, Row, transaction
from siaga.api.errors import Conflict, InvalidInput, NotFound, Unauthorized, Unavailable
from siaga.api.hashing import ScryptCost, hash_password, token_digest, verify_password
from siaga.api.login_guard import LoginGuard, LoginLimits
from siaga.api.settings import AuthSettings
from siaga.api.throttle import Throttle

T = TypeVar("T")

__all__ = [
    "Accounts",
    "IssuedToken",
    "Role",
    "Staff",
]

STAFF_TOKEN_PREFIX = "sgs_"
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")



class Role(StrEnum):
    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return ("viewer", "responder", "admin").index(self.value)


class Staff(BaseModel):
    """A staff member as routes see them (``CurrentStaff``)."""

    model_config = ConfigDict(frozen=True)

    username: str
    name: str
    agency: str = Field(description="Agency short code: BPBD, PMK, SATPOLPP, DISKOMINFO, ...")
    role: Role
    disabled: bool = Field(default=False, description="Cannot sign in (set by an admin)")

    def has_role(self, role: Role) -> bool:
        return self.role.rank >= role.rank


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: float


def ensure_schema(conn: Connection) -> None:
    conn.executescript(
        """
        CREATE TABLE IF NOT EXISTS staff (
            username TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            agency TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('viewer', 'responder', 'admin')),
            password_hash TEXT NOT NULL,
            created_at REAL NOT NULL,
            -- A disabled account keeps its name (the audit log and incident timelines
            -- refer to it) but cannot sign in; older databases gain it by migration 1.
            disabled INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE IF NOT EXISTS staff_tokens (
            token_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL REFERENCES staff(username) ON DELETE CASCADE,
            issued_at REAL NOT NULL,
            expires_at REAL NOT NULL
        );
        CREATE INDEX IF NOT EXISTS staff_tokens_expiry ON staff_tokens(expires_at);
        """
    )


def _staff(row: Row) -> Staff:
    return Staff(username=row["username"], name=row["name"], agency=row["agency"],
                 role=Role(row["role"]), disabled=bool(row["disabled"]))


class Accounts:
    """Staff credentials in the hub database; ``cost`` is the scrypt cost of new hashes."""

    def __init__(self, db: Database, settings: AuthSettings, agencies: Collection[str],
                 clock: Callable[[], float] = time.time, *,
                 cost: ScryptCost = ScryptCost()) -> None:  # noqa: B008 - frozen
        self._db = db
        self._settings = settings
        self.agencies = frozenset(agencies)
        self._clock = clock
        self._cost = cost
        # Checked against when the username does not exist, so both answers take as long.
        self._dummy_hash = hash_password(secrets.token_hex(8), cost)
        # Failures counted in the database: every hub process shares the throttles.
        self.guard = LoginGuard(LoginLimits(
            settings.login_attempts, settings.login_attempts_per_address,
            settings.login_window_s, settings.login_backoff_max_s), Throttle(db, clock))
        # scrypt (~95 ms) runs here, never on the event loop nor under the database lock, and
        # at most hash_workers at once with hash_queue waiting: a flood of logins gets 503s
        # while token checks, ingest and /healthz go on.
        self._hasher = ThreadPoolExecutor(settings.hash_workers, thread_name_prefix="scrypt")
        self._hash_slots = asyncio.Semaphore(settings.hash_workers + settings.hash_queue)
        db.call(ensure_schema)

    def close(self) -> None:
        self._hasher.shutdown(wait=False, cancel_futures=True)

    async def _in_hasher(self, fn: Callable[[], T]) -> T:
        if self._hash_slots.locked():
            raise Unavailable("too many logins at once; try again shortly",
                              headers={"Retry-After": "1"})
        async with self._hash_slots:
            return await asyncio.get_running_loop().run_in_executor(self._hasher, fn)

    # -- scoping -------------------------------------------------------------------------

    def scope(self, staff: Staff) -> frozenset[str] | None:
        """Agencies whose incidents ``staff`` may see, or None for all of them."""
        if staff.role is Role.ADMIN or staff.agency in self._settings.see_all_agencies:
            return None
        return frozenset((staff.agency,))

    def can_see(self, staff: Staff, agencies: Collection[str]) -> bool:
        scope = self.scope(staff)
        return scope is None or not scope.isdisjoint(agencies)

    # -- staff ---------------------------------------------------------------------------

    def _check_new_user(self, username: str, agency: str, password: str) -> None:
        if not USERNAME.match(username):
            raise InvalidInput(
                f"username {username!r}: 2-64 of a-z 0-9 . _ -, starting with a letter or digit"
            )
        if agency not in self.agencies:
            raise InvalidInput(f"agency {agency!r} is not one of {sorted(self.agencies)}")
        if len(password) < self._settings.password_min_length:
            raise InvalidInput(
                f"password: at least {self._settings.password_min_length} characters"
            )

    async def add_user(self, username: str, name: str, agency: str, role: Role | str,
                       password: str) -> Staff:
        role = Role(role)
        self._check_new_user(username, agency, password)
        encoded = await self._in_hasher(lambda: hash_password(password, self._cost))
        now = self._clock()

        def insert(conn: Connection) -> None:
            try:
                with transaction(conn):
                    conn.execute(
                        "INSERT INTO staff (username, name, agency, role, password_hash, "
                        "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (username, name or username, agency, role.value, encoded, now),
                    )
            except INTEGRITY_ERRORS:
                raise Conflict(f"user {username!r} already exists") from None

        await self._db.run(insert)
        return Staff(username=username, name=name or username, agency=agency, role=role)

    async def list_users(self) -> list[Staff]:
        rows = await self._db.run(
            lambda c: c.execute("SELECT * FROM staff ORDER BY username").fetchall()
        )
        return [_staff(r) for r in rows]

    async def get_user(self, username: str) -> Staff:
        row = await self._db.run(
            lambda c: c.execute("SELECT * FROM staff WHERE username = ?", (username,)).fetchone()
        )
        if row is None:
            raise NotFound(f"no user {username!r}")
        return _staff(row)

    async def set_password(self, username: str, password: str) -> None:
        if len(password) < self._settings.password_min_length:
            raise InvalidInput(
                f"password: at least {self._settings.password_min_length} characters"
            )
        encoded = await self._in_hasher(lambda: hash_password(password, self._cost))

        def update(conn: Connection) -> None:
            with transaction(conn):
                cur = conn.execute("UPDATE staff SET password_hash = ? WHERE username = ?",
                                   (encoded, username))
                if cur.rowcount == 0:
                    raise NotFound(f"no user {username!r}")
                # A new password ends every session opened with the old one.
                conn.execute("DELETE FROM staff_tokens WHERE username = ?", (username,))

        await self._db.run(update)

    async def update_user(self, username: str, *, name: str | None = None,
                          role: Role | str | None = None, agency: str | None = None,
                          disabled: bool | None = None) -> Staff:
        """Change an account's name, role, agency or disabled flag. Disabling ends its
        sessions; the rest applies from the next request (tokens look the account up)."""
        if agency is not None and agency not in self.agencies:
            raise InvalidInput(f"unknown agency {agency!r} (configured: "
                               f"{', '.join(sorted(self.agencies))})", field="agency")
        changes: dict[str, str | int] = {
            k: v for k, v in (("name", name), ("agency", agency)) if v is not None}
        if role is not None:
            changes["role"] = Role(role).value
        if disabled is not None:
            changes["disabled"] = int(disabled)

        def update(conn: Connection) -> Staff:
            with transaction(conn):
                if changes:
                    sets = ", ".join(f"{k} = ?" for k in changes)
                    conn.execute(f"UPDATE staff SET {sets} WHERE username = ?",  # noqa: S608
                                 (*changes.values(), username))
                row = conn.execute("SELECT * FROM staff WHERE username = ?",
                                   (username,)).fetchone()
                if row is None:
                    raise NotFound(f"no user {username!r}")
                if disabled:
                    conn.execute("DELETE FROM staff_tokens WHERE username = ?", (username,))
                return _staff(row)

        staff: Staff = await self._db.run(update)
        return staff

    async def remove_user(self, username: str) -> None:
        """Delete the account and end its sessions (the audit trail keeps the name)."""

        def delete(conn: Connection) -> None:
            with transaction(conn):
                if conn.execute("DELETE FROM staff WHERE username = ?",
                                (username,)).rowcount == 0:
                    raise NotFound(f"no user {username!r}")

        await self._db.run(delete)

    async def authenticate(self, username: str, password: str, address: str = "") -> Staff:
        """The staff member, after the password matched.

        Tries are throttled per client ``address`` and per username (``login_guard``); the
        hash is checked in the bounded hashing pool, off the database lock.
        """
        await self.guard.check(username, address)

        def fetch(conn: Connection) -> Row | None:
            row: Row | None = conn.execute(
                "SELECT * FROM staff WHERE username = ?", (username,)).fetchone()
            return row

        row = await self._db.run(fetch)
        encoded = self._dummy_hash if row is None else row["password_hash"]
        matched = await self._in_hasher(lambda: verify_password(password, encoded))
        if row is None or not matched or row["disabled"]:
            # a disabled account is refused like a wrong password
            await self.guard.failed(username, address)
            raise Unauthorized("wrong username or password", error="invalid_grant")
        await self.guard.succeeded(username, address)
        return _staff(row)

    async def issue_token(self, staff: Staff) -> IssuedToken:
        token = STAFF_TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        expires = now + self._settings.token_ttl_s

        def insert(conn: Connection) -> None:
            with transaction(conn):
                conn.execute("DELETE FROM staff_tokens WHERE expires_at <= ?", (now,))
                conn.execute(
                    "INSERT INTO staff_tokens (token_hash, username, issued_at, expires_at) "
                    "VALUES (?, ?, ?, ?)",
                    (token_digest(token), staff.username, now, expires),
                )

        await self._db.run(insert)
        return IssuedToken(token=token, expires_at=expires)

    async def login(self, username: str, password: str,
                    address: str = "") -> tuple[Staff, IssuedToken]:
        staff = await self.authenticate(username, password, address)
        return staff, await self.issue_token(staff)

    async def session_for_token(self, token: str) -> tuple[Staff, float]:
        """The staff member behind a token and when the token expires (POSIX seconds)."""
        if not token.startswith(STAFF_TOKEN_PREFIX):
            raise Unauthorized("not a staff token", error="invalid_token")
        digest = token_digest(token)
        row = await self._db.run(lambda c: c.execute(
            "SELECT s.*, t.expires_at FROM staff_tokens t JOIN staff s USING (username) "
            "WHERE t.token_hash = ?", (digest,)).fetchone())
        if row is None:
            raise Unauthorized("unknown or revoked token", error="invalid_token")
        if row["expires_at"] <= self._clock():
            raise Unauthorized("token expired", error="invalid_token")
        return _staff(row), float(row["expires_at"])

    async def staff_for_token(self, token: str) -> Staff:
        staff, _ = await self.session_for_token(token)
        return staff

    async def revoke_token(self, token: str) -> None:
        digest = token_digest(token)

        def delete(conn: Connection) -> None:
            with transaction(conn):
                conn.execute("DELETE FROM staff_tokens WHERE token_hash = ?", (digest,))

        await self._db.run(delete)
