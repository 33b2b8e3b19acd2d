"""The state dir and buffer seen by a user other than their owner: the dry run as a user
who cannot write the buffer's directory, and the gateway's lock file left unwritable to it
(``sudo siaga-gateway requeue-rejected`` before the gateway's first start leaves it root's).

Run as root (as here) the other user is ``nobody`` (root writes anything); as anyone else
it is the test's own user, the directory and file made read-only to it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from siaga.gateway import requeue_command
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_sqlite import BufferSettings
from siaga.gateway.state_dir_lock import LOCK_NAME, StateDirBusy, StateDirLock

NOBODY = 65534
CANNOT_SWITCH = 77  # the child's exit code when root may not setuid: the test skips


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory the other user can enter (pytest's tmp_path is 0700, root's)."""
    path = Path(tempfile.mkdtemp(prefix="siaga-other-user-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        path.chmod(0o755)
        shutil.rmtree(path)


def as_other_user(body: Callable[[], str]) -> tuple[int, str]:
    """``body`` run in a forked child as the other user: its exit code (1: it raised) and
    what it returned or the error. A fork, not a new interpreter: ``nobody`` cannot reach
    root's Python."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest, whatever fails
        code = 1
        try:
            os.close(read)
            try:
                if os.geteuid() == 0:
                    os.setgroups([])
                    os.setgid(NOBODY)
                    os.setuid(NOBODY)
            except PermissionError as exc:  # root without CAP_SETUID (rootless container)
                code, out = CANNOT_SWITCH, f"cannot switch user: {exc}"
            else:
                try:
                    code, out = 0, body()
                except BaseException as exc:
                    code, out = 1, f"{type(exc).__name__}: {exc}"
            os.write(write, out.encode())
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        out = pipe.read().decode()
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if code == CANNOT_SWITCH:
        pytest.skip(out)
    return code, out


def test_a_dry_run_by_a_user_who_cannot_write_the_dir_says_who_must_run_it(
        shared_dir: Path) -> None:
    """SQLite creates its -wal and -shm side files even to read a WAL file: a user who
    cannot write the directory got "attempt to write a readonly database"."""
    StoreAndForwardBuffer(BufferSettings(path=str(shared_dir / "buffer.sqlite3"))).close()
    if os.geteuid() != 0:
        shared_dir.chmod(0o555)
    settings = BufferSettings(path=str(shared_dir / "buffer.sqlite3"))
    code, out = as_other_user(lambda: str(requeue_command.look(settings, None)))
    assert code == 1 and out.startswith("BufferStorageError: cannot read buffer"), out
    assert "as this user" in out and "sudo -u siaga" in out
    assert "cannot create or write its side files (-wal/-shm) in" in out
    assert sorted(p.name for p in shared_dir.iterdir()) == ["buffer.sqlite3"]


def test_a_lock_file_this_user_cannot_write_still_locks(shared_dir: Path) -> None:
    """Opened read-write, a lock file another user owns (0644 root's, left by a sudo
    requeue) stopped the gateway's start; read-only, flock still works, and the pid note is
    skipped. As root the file stays root's 0644 (the scenario); else 0444, the user's own."""
    lock = shared_dir / LOCK_NAME
    lock.write_text("1\n")
    lock.chmod(0o644 if os.geteuid() == 0 else 0o444)

    def take_twice() -> str:
        held = StateDirLock(shared_dir, "first")
        try:
            StateDirLock(shared_dir, "second")
            return "not busy"
        except StateDirBusy as exc:
            busy = str(exc)
        held.release()
        StateDirLock(shared_dir, "third").release()
        return busy

    code, out = as_other_user(take_twice)
    assert code == 0 and out.startswith("second: a gateway is running on state dir"), out
    assert lock.read_text() == "1\n"  # no pid note on a read-only descriptor
