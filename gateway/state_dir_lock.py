"""One gateway process per state dir: an exclusive ``flock`` on ``state_dir/gateway.lock``,
held for the process's whole life (taken before the buffer opens); and, when the buffer
file lies outside the state dir (an absolute ``buffer.path``), ``<buffer file>.lock`` as
well: two gateways with their own state dirs may name one buffer file.

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

    def __init__(self, state_dir: Path, who: str, buffer: Path | None = None) -> None:
        """Take it now or raise StateDirBusy; ``who`` names the taker in the error;
        ``buffer``: the buffer file, locked too when outside the state dir."""
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / LOCK_NAME
        self._fds = [take(self.path, who, f"a gateway is running on state dir {state_dir}")]
        if buffer is not None and buffer.parent.resolve() != state_dir.resolve():
            try:
                buffer.parent.mkdir(parents=True, exist_ok=True)
                self._fds.append(take(buffer.with_name(buffer.name + ".lock"), who,
                                      f"a gateway is using buffer {buffer}"))
            except BaseException:
                self.release()
                raise

    def release(self) -> None:
        while self._fds:
            os.close(self._fds.pop())  # closing the descriptor drops the flock

    def __enter__(self) -> StateDirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def take(path: Path, who: str, busy: str) -> int:
    """The locked descriptor of ``path``, or StateDirBusy saying ``busy``."""
    fd = open_lock_file(path, who)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StateDirBusy(f"{who}: {busy} (it holds {path})") from None
    except OSError as exc:
        # NFS refuses an exclusive flock on a read-only descriptor (EBADF): the read-only
        # fallback above then fails here; raw, the OSError was a traceback
        os.close(fd)
        raise GatewayError(
            f"{who}: cannot lock {path}: {exc}; the lock file must be writable by the "
            f"gateway's user (chown it to that user, e.g. chown siaga {path})") from exc
    except BaseException:
        os.close(fd)
        raise
    note_pid(fd)
    return fd


def open_lock_file(path: Path, who: str) -> int:
    """The lock file's descriptor, read-write; read-only if this user may not write it
    (``sudo siaga-gateway requeue-rejected`` before the gateway's first start leaves it
    root's, 0644; flock works on a read-only descriptor, and the pid note is skipped)."""
    flags = os.O_CLOEXEC
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | flags, 0o644)
    except PermissionError:
        try:
            return os.open(path, os.O_RDONLY | flags)
        except OSError as exc:
            raise GatewayError(f"{who}: cannot open {path}: {exc}") from exc
    except OSError as exc:
        raise GatewayError(f"{who}: cannot open {path}: {exc}") from exc


def note_pid(fd: int) -> None:
    """For the operator who looks: which process holds the lock (the lock is the flock
    alone, so a note that cannot be written, on a read-only descriptor or a full disk,
    costs nothing)."""
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError:
        pass
