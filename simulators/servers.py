"""Real Mosquitto, InfluxDB, PostgreSQL and hub servers on free loopback ports: dev tooling
shared by the tests, the benchmarks and the demo (``--with-services``); product code never
imports it.

Each is a :class:`ServerProcess`, which starts the program with its output in a log in its
dir, waits until it listens, and stops it (``stop()``) or also removes the dir
(``cleanup()``); each server writes its own generated config into a temporary dir. A
missing binary is an error, never a skip: ``deploy/test.sh`` installs the Debian packages.
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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

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


def terminate(proc: subprocess.Popen[bytes] | None, grace_s: float,
              sig: signal.Signals = signal.SIGTERM) -> None:
    """``sig`` (SIGTERM), then SIGKILL if the server has not exited within ``grace_s``."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ServerProcess:
    """A server program run as a child process with its files in ``workdir``.

    A subclass (a dataclass with ``workdir`` and ``proc`` fields) writes its config in
    ``start`` and calls ``_launch``: the program's output goes to ``log``, and the call returns
    once it listens. ``stop`` sends ``stop_signal`` and SIGKILL after ``stop_grace_s``;
    ``kill`` is a machine dying; ``cleanup`` stops it and removes ``workdir``.
    """

    program: ClassVar[str]
    """The program's name, in errors and in the log's name."""
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    stop_grace_s: ClassVar[float] = 10.0
    workdir: Path
    proc: subprocess.Popen[bytes] | None

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.program}.log"

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""

    def _launch(self, argv: list[str], port: int | None, **popen: Any) -> None:
        """Start ``argv``; with ``port``, wait until it listens there."""
        with self.log.open("ab") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **popen)
        if port is not None:
            wait_port(port, self.proc, self.program, self.log)

    def _wait_until(self, ready: Callable[[], bool], what: str, timeout_s: float) -> None:
        """Ask ``ready`` until it says yes (the program listens before it serves)."""
        deadline = time.monotonic() + timeout_s
        while not ready():
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.program} exited before it {what}: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.program} {what} not within {timeout_s} s: "
                                   f"{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        terminate(self.proc, self.stop_grace_s, self.stop_signal)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL, as when its machine dies; ``start`` again restarts it."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class Mosquitto(ServerProcess):
    """A Mosquitto broker; ``start()`` again after ``stop()`` reuses port and persistence."""

    program: ClassVar[str] = "mosquitto"

    port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="siaga-mosq-")))
    # Mosquitto's default of 1000 queued messages per client silently drops QoS 1
    # messages for a slow subscriber (DESIGN.md); tests set the bound deliberately.
    max_queued_messages: int = 1_000_000
    allow_anonymous: bool = True
    extra_config: str = ""
    config: str | None = None
    """A whole mosquitto.conf instead of the generated one (a shipped config rewritten for
    the test); it must listen on ``port``."""
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
        conf.write_text(self.config if self.config is not None else self._generated_config())
        self._launch([binary, "-c", str(conf)], self.port)
        return self

    def _generated_config(self) -> str:
        return (
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


@dataclass
class InfluxDB(ServerProcess):
    """An InfluxDB 1.x ``influxd`` (Debian's ``influxdb``) serving the v1 HTTP API."""

    program: ClassVar[str] = "influxd"
    stop_grace_s: ClassVar[float] = 15.0

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
        self._launch([binary, "-config", str(conf)], self.port)
        self._wait_until(self._pings, "answered /ping", timeout_s=20)
        return self

    def _pings(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as r:
                return bool(r.status == 204)
        except (urllib.error.URLError, OSError):
            return False


def postgres_binary(name: str) -> str:
    """A PostgreSQL server program (Debian keeps them off PATH, per major version)."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if found:
        return str(found[-1])
    return require_binary(name, "postgresql")


@dataclass
class PostgreSQL(ServerProcess):
    """A PostgreSQL cluster of its own: ``initdb`` into a temp dir, ``postgres`` on a free port.

    Trust authentication on 127.0.0.1 for the user ``siaga`` (a superuser); no durability
    (fsync off), which tests and benchmarks do not need. PostgreSQL refuses to run as root:
    started by root, the cluster runs as the ``postgres`` user Debian's package creates.
    ``start()`` again after ``stop()`` reuses port and data (a restart).
    """

    program: ClassVar[str] = "postgres"
    # SIGTERM is PostgreSQL's "smart" shutdown, which waits for clients; SIGINT ("fast")
    # ends their sessions, as a service restart or a fail-over would.
    stop_signal: ClassVar[signal.Signals] = signal.SIGINT
    stop_grace_s: ClassVar[float] = 20.0

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
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
        if not data.exists():
            subprocess.run(
                [postgres_binary("initdb"), "-D", str(data), "-U", self.user, "-A", "trust",
                 "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                check=True, capture_output=True, **self._as_owner())
        self.log.touch()
        if os.geteuid() == 0:
            shutil.chown(self.log, "postgres", "postgres")
        self._launch(
            [postgres_binary("postgres"), "-D", str(data), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1",
             "-c", f"unix_socket_directories={self.workdir}",
             "-c", f"max_connections={self.max_connections}",
             "-c", "shared_buffers=32MB", "-c", "fsync=off",
             "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
            self.port, **self._as_owner())
        # the port opens before the server accepts sessions
        self._wait_until(self._accepts_sessions, "accepted sessions", timeout_s=30)
        return self

    def _accepts_sessions(self) -> bool:
        return subprocess.run(
            [postgres_binary("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port),
             "-U", self.user, "-d", "postgres"], capture_output=True).returncode == 0

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



@dataclass
class HubProcess(ServerProcess):
    """``siaga-hub serve`` as its own process, with ``[database]`` in ``workdir`` (or at
    ``database_url``, a PostgreSQL server) plus ``toml``."""

    program: ClassVar[str] = "hub"
    stop_grace_s: ClassVar[float] = 30.0

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
    def executable(self) -> Path:
        """The ``siaga-hub`` beside this interpreter (the checkout's venv)."""
        return Path(sys.executable).parent / "siaga-hub"

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """``siaga-hub ARGS`` on this hub's config, run to its end (``user add`` and ``gateway
        add`` also before ``start``); its stdout, or RuntimeError with its stderr."""
        return run_cli([str(self.executable), *args, "--config", str(self.config)], stdin=stdin,
                       cwd=self.workdir)

    def start(self, settle_s: float = 0.0, timeout_s: float = 30.0) -> HubProcess:
        """Start and wait up to ``timeout_s`` for ``/healthz``; ``settle_s`` more lets its MQTT
        subscriber subscribe."""
        self._launch(
            [str(self.executable), "serve", "--config", str(self.config), "--port",
             str(self.port)], None,
            cwd=self.workdir, preexec_fn=None if self.nofile is None else self._limit_descriptors)
        self._wait_until(self._answers, "answered /healthz", timeout_s)
        time.sleep(settle_s)
        return self

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1):
                return True
        except urllib.error.HTTPError:  # 503: up, a store is still failing
            return True
        except (urllib.error.URLError, OSError):
            return False

    def _limit_descriptors(self) -> None:
        import resource

        assert self.nofile is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))


def start_together(hubs: Sequence[HubProcess]) -> None:
    """Start hub processes at once, as a service manager does (one's wait for ``/healthz`` is
    another's time to import); if one fails to start, all are stopped. The database must be
    migrated before (a CLI call such as ``user add`` does it), or they migrate it together."""
    try:
        with ThreadPoolExecutor(len(hubs)) as pool:
            list(pool.map(HubProcess.start, hubs))
    except BaseException:
        stop_together(hubs)
        raise


def stop_together(hubs: Sequence[HubProcess]) -> None:
    """Stop hub processes at once, each waited for up to its grace time."""
    with ThreadPoolExecutor(len(hubs)) as pool:
        list(pool.map(HubProcess.stop, hubs))
