"""Entries of a Mosquitto password file (``password_file``), written without mosquitto_passwd.

Mosquitto 2 stores ``username:$7$<iterations>$<salt b64>$<PBKDF2-HMAC-SHA512 b64>``; the same
format ``mosquitto_passwd`` writes (12-byte salt, 64-byte hash, 101 iterations by default). A
gateway's MQTT password is its gateway token, so one secret serves both transports.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["mosquitto_password_line", "set_password_entry"]

ITERATIONS = 101


def mosquitto_password_line(username: str, password: str, iterations: int = ITERATIONS,
                            salt: bytes | None = None) -> str:
    if ":" in username or not username or any(c.isspace() for c in username):
        raise ValueError(f"MQTT username {username!r}: no colon or whitespace")
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, 64)
    return (f"{username}:$7${iterations}${base64.b64encode(salt).decode()}"
            f"${base64.b64encode(digest).decode()}")


def set_password_entry(path: str | Path, username: str, password: str) -> None:
    """Add or replace ``username``'s line in the password file, atomically.

    An existing file keeps its owner, group and mode (Mosquitto must still be able to read
    it); a new one is created 0600. Mosquitto reads the file at start and on SIGHUP
    (``systemctl reload mosquitto``); reload it after this.
    """
    p = Path(path)
    before = p.stat() if p.exists() else None
    lines = p.read_text(encoding="utf-8").splitlines() if before is not None else []
    kept = [ln for ln in lines if ln.split(":", 1)[0] != username]
    kept.append(mosquitto_password_line(username, password))
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(kept) + "\n")
        if before is None:
            os.chmod(tmp, 0o600)
        else:
            os.chmod(tmp, before.st_mode & 0o7777)
            if (before.st_uid, before.st_gid) != (os.geteuid(), os.getegid()):
                os.chown(tmp, before.st_uid, before.st_gid)
        os.replace(tmp, p)
    except BaseException:
        os.unlink(tmp)
        raise
