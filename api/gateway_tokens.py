"""Gateway tokens: the bearer credential of each gateway (HTTP uplink, MQTT password).

A token is a 256-bit random string with the prefix ``sgg_``, shown once when issued; only its
SHA-256 is stored (api/hashing.py). It lasts until it is replaced (``siaga-hub gateway add``
again) or revoked (the gateway deleted, ``siaga-hub gateway revoke``).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable

from siaga.api.db import Connection, Database, transaction
from siaga.api.errors import InvalidInput, Unauthorized
from siaga.api.hashing import token_digest

__all__ = ["GATEWAY_TOKEN_PREFIX", "GatewayTokens"]

GATEWAY_TOKEN_PREFIX = "sgg_"
GATEWAY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Gateways send many requests; their token lookups are cached this long (a replaced token
# stops working in other hub processes within this time).
_GATEWAY_CACHE_S = 30.0


def ensure_schema(conn: Connection) -> None:
    conn.executescript(
        """
        CREATE TABLE IF NOT EXISTS gateway_tokens (
            gateway TEXT PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            issued_at REAL NOT NULL
        );
        """
    )


class GatewayTokens:
    """Gateway credentials in the hub database."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._gateway_cache: dict[str, tuple[str, float]] = {}
        # Called after a token is replaced or revoked (the cluster tells the other processes).
        self.on_change: Callable[[], None] = lambda: None
        db.call(ensure_schema)

    def forget(self) -> None:
        """Empty the token cache (another hub process replaced or revoked a token)."""
        self._gateway_cache = {}

    async def issue(self, gateway: str) -> str:
        """A new token for ``gateway``, replacing its previous one; shown once, stored hashed."""
        if not GATEWAY_ID.match(gateway):
            raise InvalidInput(f"gateway id {gateway!r}: 1-64 of A-Z a-z 0-9 . _ -")
        token = GATEWAY_TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()

        def upsert(conn: Connection) -> None:
            with transaction(conn):
                conn.execute(
                    "INSERT INTO gateway_tokens (gateway, token_hash, issued_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (gateway) DO UPDATE SET token_hash = excluded.token_hash, "
                    "issued_at = excluded.issued_at",
                    (gateway, token_digest(token), now),
                )

        await self._db.run(upsert)
        self._gateway_cache = {k: v for k, v in self._gateway_cache.items() if v[0] != gateway}
        self.on_change()
        return token

    async def issued(self) -> dict[str, float]:
        """Gateways that have a token, with when it was issued (POSIX s)."""
        rows = await self._db.run(lambda c: c.execute(
            "SELECT gateway, issued_at FROM gateway_tokens").fetchall())
        return {str(r["gateway"]): float(r["issued_at"]) for r in rows}

    async def revoke(self, gateway: str) -> None:
        def delete(conn: Connection) -> None:
            with transaction(conn):
                conn.execute("DELETE FROM gateway_tokens WHERE gateway = ?", (gateway,))

        await self._db.run(delete)
        self._gateway_cache = {k: v for k, v in self._gateway_cache.items() if v[0] != gateway}
        self.on_change()

    async def gateway_for_token(self, token: str) -> str:
        if not token.startswith(GATEWAY_TOKEN_PREFIX):
            raise Unauthorized("not a gateway token", error="invalid_token")
        digest = token_digest(token)
        now = self._clock()
        cached = self._gateway_cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        row = await self._db.run(lambda c: c.execute(
            "SELECT gateway FROM gateway_tokens WHERE token_hash = ?", (digest,)).fetchone())
        if row is None:
            self._gateway_cache.pop(digest, None)
            raise Unauthorized("unknown or replaced gateway token", error="invalid_token")
        self._gateway_cache[digest] = (row["gateway"], now + _GATEWAY_CACHE_S)
        return str(row["gateway"])
