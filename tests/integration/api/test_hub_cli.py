"""``siaga-hub`` as an operator runs it: separate processes, a real config file and socket."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from siaga.api.accounts import Accounts
from siaga.api.db import Database
from siaga.api.errors import Unauthorized
from siaga.api.settings import load_settings
from siaga.simulators.servers import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def hub(*args: str, stdin: str | None = None, cwd: Path | None = None,
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "siaga.api", *args], input=stdin, text=True,
                          capture_output=True, timeout=60, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def write_config(tmp_path: Path, port: int = 8080, extra: str = "") -> Path:
    config = tmp_path / "hub.toml"
    config.write_text(
        f'[server]\nport = {port}\n[database]\npath = "{tmp_path / "hub.sqlite3"}"\n'
        f'[telemetry]\npath = "{tmp_path / "telemetry.sqlite3"}"\n'
        f'[registry]\nfile = "{ROOT / "deploy" / "demo" / "registry.toml"}"\n{extra}'
    )
    return config


def test_check_config_names_the_bad_key_and_exits_78(tmp_path: Path) -> None:
    config = write_config(tmp_path, extra="[auth]\ntoken_tll_s = 60\n")
    r = hub("check-config", "--config", str(config))
    assert r.returncode == 78
    assert "auth.token_tll_s: unknown key" in r.stderr


def test_check_config_reports_registry_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "registry.toml"
    bad.write_text("[nodes.n1]\nsite = 'nowhere'\nlat = 91\nlon = 0\n")
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace(
        str(ROOT / "deploy" / "demo" / "registry.toml"), str(bad)))
    r = hub("check-config", "--config", str(config))
    assert r.returncode == 78
    assert "registry.file" in r.stderr and "nodes.n1.lat" in r.stderr


def test_check_config_ok_and_env_override(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    r = hub("check-config", "--config", str(config))
    assert r.returncode == 0, r.stderr
    assert "agencies BPBD, PMK, SATPOLPP, DISKOMINFO" in r.stdout
    env_bad = subprocess.run(
        [sys.executable, "-m", "siaga.api", "check-config", "--config", str(config)], text=True,
        capture_output=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SIAGA_HUB__SERVER__PORT": "http"})
    assert env_bad.returncode == 78 and "server.port" in env_bad.stderr


def test_check_config_takes_the_file_as_a_positional_like_the_gateway(tmp_path: Path) -> None:
    config = write_config(tmp_path, extra="[auth]\ntoken_tll_s = 60\n")
    r = hub("check-config", str(config))
    assert r.returncode == 78
    assert "auth.token_tll_s: unknown key" in r.stderr


def test_user_add_validates_and_refuses_duplicates(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    ok = hub("user", "add", "siti", "--config", str(config), "--agency", "BPBD",
             "--role", "responder", "--name", "Siti Rahma", "--password-stdin",
             stdin="kata-sandi-siti\n")
    assert ok.returncode == 0, ok.stderr
    again = hub("user", "add", "--config", str(config), "--username", "siti", "--agency",
                "PMK", "--role", "viewer", "--password-stdin", stdin="kata-sandi-siti\n")
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = hub("user", "add", "eko", "--config", str(config), "--agency",
              "BASARNAS", "--role", "viewer", "--password-stdin", stdin="kata-sandi-eko1\n")
    assert bad.returncode == 1 and "agency 'BASARNAS'" in bad.stderr
    listed = hub("user", "list", "--config", str(config))
    assert listed.stdout.splitlines() == ["siti\tresponder\tBPBD\tSiti Rahma"]
    assert hub("user", "remove", "siti", "--config", str(config)).returncode == 0
    assert hub("user", "list", "--config", str(config)).stdout == ""
    # --username, the flag scripts used before the positional, still names the account
    gone = hub("user", "remove", "--config", str(config), "--username", "siti")
    assert gone.returncode == 1 and "no user 'siti'" in gone.stderr
    assert hub("user", "remove", "--config", str(config)).returncode == 2


def test_user_passwd_changes_the_password_and_closes_the_sessions(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert hub("user", "add", "siti", "--config", str(config), "--agency", "BPBD", "--role",
               "viewer", "--password-stdin", stdin="kata-sandi-siti\n").returncode == 0
    settings = load_settings(config)
    # the accounts as a serving hub sees them, in the database the command changes
    db = Database(tmp_path / "hub.sqlite3")
    accounts = Accounts(db, settings.auth, settings.agencies)

    def sessions() -> int:
        return int(db.call(lambda c: c.execute(
            "SELECT count(*) FROM staff_tokens WHERE username = 'siti'").fetchone()[0]))

    try:
        asyncio.run(accounts.login("siti", "kata-sandi-siti"))
        assert sessions() == 1
        r = hub("user", "passwd", "siti", "--config", str(config), "--password-stdin",
                stdin="sandi-baru-siti\n")
        assert r.returncode == 0, r.stderr
        assert "password of siti changed; their sessions are closed" in r.stdout
        assert asyncio.run(accounts.authenticate("siti", "sandi-baru-siti")).username == "siti"
        with pytest.raises(Unauthorized):
            asyncio.run(accounts.authenticate("siti", "kata-sandi-siti"))
        assert sessions() == 0
    finally:
        accounts.close()
        db.close()
    missing = hub("user", "passwd", "eko", "--config", str(config), "--password-stdin",
                  stdin="sandi-baru-eko1\n")
    assert missing.returncode == 1 and "no user 'eko'" in missing.stderr


def test_user_add_without_a_terminal_or_piped_password_says_so(tmp_path: Path) -> None:
    # getpass at end of input used to end in an EOFError traceback
    out = hub("user", "add", "eko", "--config", str(write_config(tmp_path)), "--agency", "BPBD",
              "--role", "viewer", stdin="")
    assert out.returncode == 1
    assert "--password-stdin" in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_reading_commands_refuse_a_missing_database_and_create_nothing(tmp_path: Path) -> None:
    """Regression: 'user list' with no --config silently created ./siaga-hub.sqlite3."""
    for argv in (("user", "list"), ("user", "remove", "siti"), ("gateway", "revoke", "gw-1")):
        r = hub(*argv, cwd=tmp_path)
        assert r.returncode == 1, argv
        assert "no hub database at siaga-hub.sqlite3" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_serve_answers_with_users_and_gateways_made_by_the_cli(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port=port)
    assert hub("user", "add", "--config", str(config), "--username", "admin", "--agency",
               "DISKOMINFO", "--role", "admin", "--password-stdin",
               stdin="kata-sandi-admin\n").returncode == 0
    gw = hub("gateway", "add", "gw-bumiaji-01", "--config", str(config))
    assert gw.returncode == 0 and "shown once" in gw.stderr
    token = gw.stdout.strip()
    assert token.startswith("sgg_")
    with (tmp_path / "serve.log").open("w") as serve_log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "siaga.api", "serve", "--config", str(config)],
            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=serve_log,
            stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the hub did not start"
            time.sleep(0.1)
        login = httpx.post(f"{base}/api/v1/auth/token",
                           json={"username": "admin", "password": "kata-sandi-admin"}).json()
        headers = {"Authorization": f"Bearer {login['access_token']}"}
        gws = httpx.get(f"{base}/api/v1/registry/gateways", headers=headers).json()
        assert "gw-bumiaji-01" in {g["id"] for g in gws}
        heartbeat = {"v": 1, "gateway": "gw-bumiaji-01", "ts": int(time.time() * 1000),
                     "uptime_s": 1.0, "buffer": {"depth": 0, "alerts": 0, "oldest_age_s": 0,
                                                 "dropped_readings": 0, "bytes": 0},
                     "nodes": {}, "cpu_temp_c": None, "disk_free_bytes": None}
        r = httpx.post(f"{base}/api/v1/heartbeat", json=heartbeat,
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code < 300, r.text
        r = httpx.post(f"{base}/api/v1/heartbeat", json=heartbeat,
                       headers={"Authorization": "Bearer sgg_wrong"})
        assert r.status_code == 401
        r = httpx.get(f"{base}/api/v1/stream", params={"access_token": "sgs_SECRET"})
        assert r.status_code == 401
        # revoked from another process, in the database the serving hub shares
        assert hub("gateway", "revoke", "gw-bumiaji-01", "--config", str(config)
                   ).returncode == 0
        db = Database(tmp_path / "hub.sqlite3")
        try:
            assert db.call(lambda c: c.execute("SELECT * FROM gateway_tokens").fetchall()) == []
        finally:
            db.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal after a graceful shutdown (systemd counts that clean).
        assert proc.wait(30) in (0, -signal.SIGTERM)
    log = (tmp_path / "serve.log").read_text()
    assert "Application shutdown complete" in log
    assert "GET /api/v1/stream?access_token=REDACTED HTTP/1.1" in log
    assert "sgs_SECRET" not in log
