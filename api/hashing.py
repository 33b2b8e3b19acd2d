"""How the hub keeps secrets: scrypt password hashes and SHA-256 digests of bearer tokens.

Passwords are hashed with scrypt (``hashlib.scrypt``, RFC 7914) at a :class:`ScryptCost`
(production: n=2**14, r=8, p=1) with a 16-byte salt, stored as ``scrypt$n$r$p$salt$hash``;
``pbkdf2_sha256$iterations$salt$hash`` hashes are also verified so accounts imported from
elsewhere keep working. A hash carries its own cost, so hashes made at any cost verify.
Bearer tokens (staff sessions, gateway credentials) are 256-bit random strings; only their
SHA-256 is stored, so a copy of the database lets nobody in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

__all__ = ["ScryptCost", "hash_password", "token_digest", "verify_password"]

_SCRYPT_MAXMEM = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ScryptCost:
    """scrypt's work factors (RFC 7914). The defaults are production's; tests pass a cheap
    cost (e.g. ``ScryptCost(n=2**4)``) so they do not spend seconds hashing."""

    n: int = 2**14
    r: int = 8
    p: int = 1


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def hash_password(password: str, cost: ScryptCost = ScryptCost()) -> str:  # noqa: B008 - frozen
    salt = os.urandom(16)
    dk = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=cost.n, r=cost.r, p=cost.p,
                        maxmem=_SCRYPT_MAXMEM, dklen=32)
    return f"scrypt${cost.n}${cost.r}${cost.p}${_b64(salt)}${_b64(dk)}"


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches; a malformed or unknown hash never matches."""
    parts = encoded.split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
            salt, want = base64.b64decode(parts[4]), base64.b64decode(parts[5])
            got = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                                 maxmem=_SCRYPT_MAXMEM, dklen=len(want))
        elif parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            iterations = int(parts[1])
            salt, want = base64.b64decode(parts[2]), base64.b64decode(parts[3])
            got = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations,
                                      len(want))
        else:
            return False
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
