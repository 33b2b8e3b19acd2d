"""One gateway process per state dir: an exclusive ``flock`` on ``state_dir/gateway.lock``,
held for the process's whole life (taken before the buffer opens).

``siaga-gateway requeue-rejected`` takes the same lock without waiting and refuses if a
gateway holds it. The status file could not tell it so: a gateway writes its first status
at its first tick, after the buffer is open and the uplink may have peeked, and until then
the file names the last, dead process. The kernel drops the lock when the process ends,
however it ends, so a crash leaves nothing to clean up.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from siaga.gateway.errors import GatewayError

LOCK_NAME = "gateway.lock"


class StateDirBusy(GatewayError):
    """Another process holds the state dir's lock."""


class StateDirLock:
    """The lock, held until ``release`` (or the process's end)."""

    def __init__(self, state_dir: Path, who: str) -> None:
        """Take it now or raise StateDirBusy; ``who`` names the taker in the error."""
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / LOCK_NAME
        try:
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                                           0o644)
        except OSError as exc:
            raise GatewayError(f"{who}: cannot open {self.path}: {exc}") from exc
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise StateDirBusy(
                f"{who}: a gateway is running on state dir {state_dir} (it holds "
                f"{self.path})") from None
        except BaseException:
            os.close(self._fd)
            self._fd = None
            raise
        # for the operator who looks: which process holds it (the lock is the flock alone)
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> StateDirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
