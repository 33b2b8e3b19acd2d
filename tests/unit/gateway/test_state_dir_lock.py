"""The gateway's lock guards the buffer file too: an absolute ``buffer.path`` outside the
state dir is locked beside the file, so two gateways (or a gateway and a requeue) with their
own state dirs cannot share one buffer; and requeue-rejected takes its buffer and its lock
from one place (``--config`` or ``--state-dir``, not both)."""

from __future__ import annotations

import errno
import fcntl
from pathlib import Path

import pytest

from siaga.gateway import requeue_command
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_sqlite import BufferSettings
from siaga.gateway.cli import main
from siaga.gateway.errors import GatewayError
from siaga.gateway.state_dir_lock import StateDirBusy, StateDirLock


def test_a_buffer_outside_the_state_dir_is_locked_beside_the_file(tmp_path: Path) -> None:
    buffer = tmp_path / "shared" / "buffer.sqlite3"
    with StateDirLock(tmp_path / "a", "cannot start", buffer):
        assert (tmp_path / "shared" / "buffer.sqlite3.lock").exists()
        with pytest.raises(StateDirBusy, match=f"a gateway is using buffer {buffer}"):
            StateDirLock(tmp_path / "b", "cannot start", buffer)
        StoreAndForwardBuffer(BufferSettings(path=str(buffer))).close()
        settings = BufferSettings(path=str(buffer))
        assert requeue_command.requeue(settings, tmp_path / "b", None, dry_run=False) == 1
    StateDirLock(tmp_path / "b", "cannot start", buffer).release()  # free once released


def test_a_buffer_in_the_state_dir_takes_the_state_dirs_lock_alone(tmp_path: Path) -> None:
    with StateDirLock(tmp_path, "cannot start", tmp_path / "buffer.sqlite3"):
        assert sorted(p.name for p in tmp_path.iterdir()) == ["gateway.lock"]


def test_requeue_takes_config_or_state_dir_not_both(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With both the buffer came from the config and the lock from the state dir."""
    with pytest.raises(SystemExit) as exit_:
        main(["requeue-rejected", "--config", str(tmp_path / "gw.toml"),
              "--state-dir", str(tmp_path)])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_requeue_with_a_config_finds_the_buffer_under_a_relative_state_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The config's buffer path is joined to its state dir already: joined again, a
    relative state dir ``st`` made ``st/st/buffer.sqlite3``."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gw.toml").write_text('[gateway]\nstate_dir = "st"\n[buffer]\n')
    (tmp_path / "st").mkdir()
    StoreAndForwardBuffer(BufferSettings(path="st/buffer.sqlite3")).close()
    assert main(["requeue-rejected", "--config", "gw.toml", "--dry-run"]) == 0
    assert "would move 0 rejected rows" in capsys.readouterr().out
    assert not (tmp_path / "st" / "st").exists()


def test_a_flock_that_fails_otherwise_says_the_lock_file_must_be_writable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On NFS an exclusive flock on the read-only fallback descriptor fails with EBADF, a
    raw OSError that cli.main does not catch (a traceback). NFS cannot run here, so the
    OS call fcntl.flock is faked to fail as it does there (no MQTT/InfluxDB/serial
    involved)."""
    def flock_on_nfs(fd: int, op: int) -> None:
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(fcntl, "flock", flock_on_nfs)
    with pytest.raises(GatewayError, match="must be writable by the gateway's user"):
        StateDirLock(tmp_path, "cannot start")
