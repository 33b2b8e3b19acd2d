"""Real Mosquitto, InfluxDB, PostgreSQL and hub servers on free loopback ports: dev tooling
shared by the tests, the benchmarks and the demo (``--with-services``); product code never
imports it.

Each server gets a generated config and a temporary data dir, and is stopped
(and its dir removed) by ``stop()``. A missing binary is an error, never a skip:
``deploy/test.sh`` installs the Debian packages.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siaga.simulators.processes import run_cli


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_binary(name: str, package: str) -> str:
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if path is None:
        raise RuntimeError(
            f"{name} not found: install the Debian package '{package}' "
            f"(deploy/test.sh does this: apt-get install {package})"
        )
    return path


def wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path,
               timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(
        f"{what} did not listen on port {port} within {timeout}s: {log.read_text()[-2000:]}")


def terminate(proc: subprocess.Popen[bytes] | None, grace_s: float) -> None:
    """SIGTERM, then SIGKILL if the server has not exited within ``grace_s``."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Mosquitto:
    """A Mosquitto broker; ``start()`` again after ``stop()`` reuses port and persistence."""

    port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="siaga-mosq-")))
    # Mosquitto's default of 1000 queued messages per client silently drops QoS 1
    # messages for a slow subscriber (DESIGN.md); tests set the bound deliberately.
    max_queued_messages: int = 1_000_000
    allow_anonymous: bool = True
    extra_config: str = ""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Mosquitto:
        binary = require_binary("mosquitto", "mosquitto")
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            f"max_queued_messages {self.max_queued_messages}\n"
            "max_inflight_messages 0\n"
            "log_dest stderr\n"
            "log_type error\nlog_type warning\n"
            # Started as root, Mosquitto switches to the "mosquitto" user, who cannot read
            # a private temporary dir (password files, persistence): stay who we are.
            f"user {getpass.getuser()}\n"
            f"{self.extra_config}\n"
        )
        log = self.workdir / "mosquitto.log"
        with log.open("ab") as err:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=err)
        wait_port(self.port, self.proc, "mosquitto", log)
        return self

    def stop(self) -> None:
        terminate(self.proc, grace_s=10)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class InfluxDB:
    """An InfluxDB 1.x ``influxd`` (Debian's ``influxdb``) serving the v1 HTTP API."""

    port: int = field(default_factory=free_port)
    rpc_port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="siaga-influx-")))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> InfluxDB:
        binary = require_binary("influxd", "influxdb")
        w = self.workdir
        conf = w / "influxdb.conf"
        conf.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{w}/meta"\n'
            f'[data]\n  dir = "{w}/data"\n  wal-dir = "{w}/wal"\n  query-log-enabled = false\n'
            f'[http]\n  enabled = true\n  bind-address = "127.0.0.1:{self.port}"\n'
            "  log-enabled = false\n  max-body-size = 0\n"
            "[monitor]\n  store-enabled = false\n"
            "[continuous_queries]\n  enabled = false\n"
        )
        log = w / "influxd.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [binary, "-config", str(conf)], stdout=out, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc, "influxd", log)
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as r:
                    if r.status == 204:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"influxd did not answer /ping: {log.read_text()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        terminate(self.proc, grace_s=15)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def postgres_binary(name: str) -> str:
    """A PostgreSQL server program (Debian keeps them off PATH, per major version)."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if found:
        return str(found[-1])
    return require_binary(name, "postgresql")


@dataclass
class PostgreSQL:
    """A PostgreSQL cluster of its own: ``initdb`` into a temp dir, ``postgres`` on a free port.

    Trust authentication on 127.0.0.1 for the user ``siaga`` (a superuser); no durability
    (fsync off), which tests and benchmarks do not need. PostgreSQL refuses to run as root:
    started by root, the cluster runs as the ``postgres`` user Debian's package creates.
    ``start()`` again after ``stop()`` reuses port and data (a restart).
    """

    port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="siaga-pg-")))
    user: str = "siaga"
    max_connections: int = 300
    proc: subprocess.Popen[bytes] | None = None
    _created: int = 0

    def _as_owner(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        return {"user": "postgres", "group": "postgres"}

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgreSQL:
        data = self.workdir / "data"
        log = self.workdir / "postgres.log"
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
        if not data.exists():
            subprocess.run(
                [postgres_binary("initdb"), "-D", str(data), "-U", self.user, "-A", "trust",
                 "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                check=True, capture_output=True, **self._as_owner())
        with log.open("ab") as out:
            if os.geteuid() == 0:
                shutil.chown(log, "postgres", "postgres")
            self.proc = subprocess.Popen(
                [postgres_binary("postgres"), "-D", str(data), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1",
                 "-c", f"unix_socket_directories={self.workdir}",
                 "-c", f"max_connections={self.max_connections}",
                 "-c", "shared_buffers=32MB", "-c", "fsync=off",
                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
                stdout=out, stderr=subprocess.STDOUT, **self._as_owner())
        wait_port(self.port, self.proc, "postgres", log)
        deadline = time.monotonic() + 30
        while True:  # the port opens before the server accepts sessions
            ready = subprocess.run(
                [postgres_binary("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port),
                 "-U", self.user, "-d", "postgres"], capture_output=True)
            if ready.returncode == 0:
                return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not ready: {log.read_text()[-2000:]}")
            time.sleep(0.1)

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        if name is None:
            self._created += 1
            name = f"siaga_{os.getpid()}_{self._created}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.url(name)

    def create_schema(self, database: str = "postgres") -> str:
        """A new empty schema (fast: one per test); returns a URL whose sessions use it."""
        import psycopg

        self._created += 1
        name = f"t_{os.getpid()}_{self._created}"
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"'.encode())
        return f"{self.url(database)}?options=-csearch_path%3D{name}"

    def stop(self, grace_s: float = 20) -> None:
        # SIGTERM is PostgreSQL's "smart" shutdown, which waits for clients; SIGINT ("fast")
        # ends their sessions, as a service restart or a fail-over would.
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class HubProcess:
    """``siaga-hub serve`` as its own process, with ``[database]`` in ``workdir`` (or at
    ``database_url``, a PostgreSQL server) plus ``toml``."""

    workdir: Path
    toml: str = ""
    port: int = field(default_factory=free_port)
    database_url: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    # The process's descriptor limit (RLIMIT_NOFILE, soft and hard), as a systemd unit's
    # LimitNOFILE would set it; None: inherited.
    nofile: int | None = None

    def __post_init__(self) -> None:
        # Written now: the CLI (user add, gateway add) reads it before the hub starts.
        url = f'url = "{self.database_url}"\n' if self.database_url else ""
        self.config.write_text(
            f'[database]\npath = "{self.workdir}/hub.sqlite3"\n{url}{self.toml}')

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config(self) -> Path:
        return self.workdir / "hub.toml"

    @property
    def log(self) -> Path:
        return self.workdir / "hub.log"

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """``siaga-hub ARGS`` on this hub's config, run to its end (``user add`` and ``gateway
        add`` also before ``start``); its stdout, or RuntimeError with its stderr."""
        hub = Path(sys.executable).parent / "siaga-hub"
        return run_cli([str(hub), *args, "--config", str(self.config)], stdin=stdin,
                       cwd=self.workdir)

    def start(self, settle_s: float = 0.0, timeout_s: float = 30.0) -> HubProcess:
        """Start and wait up to ``timeout_s`` for ``/healthz``; ``settle_s`` more lets its MQTT
        subscriber subscribe."""
        hub = Path(sys.executable).parent / "siaga-hub"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(hub), "serve", "--config", str(self.config), "--port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir,
                preexec_fn=None if self.nofile is None else self._limit_descriptors)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1):
                    time.sleep(settle_s)
                    return self
            except urllib.error.HTTPError:  # 503: up, a store is still failing
                time.sleep(settle_s)
                return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise RuntimeError(f"the hub did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        terminate(self.proc, grace_s=30)
        self.proc = None

    def _limit_descriptors(self) -> None:
        import resource

        assert self.nofile is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))



class SmtpInbox:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it accepts, in
    memory (``messages``) and in an mbox file if ``mbox`` is given (open it with ``mutt -f``
    or any mail reader). With ``tls`` (cert, key) it offers STARTTLS; with ``users`` it wants
    a login (only after STARTTLS). ``answer_rcpt`` may turn a recipient away (``"550 ..."``).
    """

    def __init__(self, mbox: Path | None = None, *, tls: tuple[Path, Path] | None = None,
                 users: dict[str, str] | None = None, port: int = 0) -> None:
        import asyncio
        import mailbox
        import ssl
        from email import message_from_bytes
        from email.message import Message

        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.port = port or free_port()
        self.messages: list[Message] = []
        self.rcpt_answers: dict[str, str] = {}
        # Seconds before answering DATA of a mail it has taken (so a test can kill a sender
        # between the server's acceptance and the sender hearing of it).
        self.delay_s = 0.0
        self.mbox = mbox
        inbox = self

        class Handler:
            async def handle_RCPT(self, server: object, session: object, envelope: object,  # noqa: N802
                                  address: str, rcpt_options: list[str]) -> str:
                answer = inbox.rcpt_answers.get(address)
                if answer:
                    return answer
                envelope.rcpt_tos.append(address)  # type: ignore[attr-defined]
                return "250 OK"

            async def handle_DATA(self, server: object, session: object,  # noqa: N802
                                  envelope: object) -> str:
                msg = message_from_bytes(envelope.original_content)  # type: ignore[attr-defined]
                inbox.messages.append(msg)
                if inbox.delay_s:
                    await asyncio.sleep(inbox.delay_s)
                if inbox.mbox is not None:
                    box = mailbox.mbox(str(inbox.mbox))
                    try:
                        box.add(msg)
                        box.flush()
                    finally:
                        box.close()
                return "250 Message accepted"

        def authenticate(server: object, session: object, envelope: object, mechanism: str,
                         auth_data: object) -> AuthResult:
            ok = (isinstance(auth_data, LoginPassword) and users is not None
                  and users.get(auth_data.login.decode()) == auth_data.password.decode())
            return AuthResult(success=ok, handled=False)

        kwargs: dict[str, Any] = {}
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            kwargs.update(tls_context=context, require_starttls=True)
        if users is not None:
            kwargs.update(authenticator=authenticate, auth_required=True, auth_require_tls=True)
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                      **kwargs)

    def start(self) -> SmtpInbox:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def wait_for(self, n: int, timeout: float = 20) -> list[object]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.messages)} messages, expected {n}")
            time.sleep(0.02)
        return list(self.messages)
