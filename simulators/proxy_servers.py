"""Debian's nginx and HAProxy in front of hub processes, on a free loopback port with a temp
dir: dev tooling shared by the deployment tests and ``deploy/demo.sh --scale``; product code
never imports it. Both are a ``ServerProcess`` (simulators/servers.py).

``Nginx`` wraps the http-context file ``siaga-hub proxy-config nginx`` renders in a main
config of its own (pid, logs and temp paths in its dir, no daemon), so it never touches
/etc/nginx or a system service; ``HAProxy`` runs the file ``siaga-hub proxy-config haproxy``
renders in the foreground. ``self_signed_certificate`` makes the TLS pair with openssl.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from siaga.simulators.servers import ServerProcess, require_binary

__all__ = ["HAProxy", "Nginx", "self_signed_certificate"]


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for ``host`` (an IP address) and its key, valid two days."""
    cert, key = directory / "proxy.crt", directory / "proxy.key"
    subprocess.run(
        [require_binary("openssl", "openssl"), "req", "-x509", "-newkey", "ec",
         "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", f"/CN={host}",
         "-addext", f"subjectAltName=IP:{host},DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key


@dataclass
class Nginx(ServerProcess):
    """nginx serving ``site`` (an http-context config) from its own prefix in ``workdir``."""

    # SIGQUIT is nginx's graceful stop; SIGTERM (the default) its fast one, which is enough.
    program: ClassVar[str] = "nginx"

    site: str
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="siaga-nginx-")))
    port: int = 0
    """The port ``site`` listens on (the proxy's HTTPS port), waited for by ``start``."""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.workdir / "nginx.conf"

    @property
    def error_log(self) -> Path:
        return self.workdir / "error.log"

    def write(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "site.conf").write_text(self.site)
        for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.workdir / "temp" / temp).mkdir(parents=True, exist_ok=True)
        # As root the workers would become "nobody", who cannot read a private temp dir;
        # stay who we are (a non-root nginx ignores the line with a notice).
        user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
        w = self.workdir
        self.conf.write_text(
            f"{user}worker_processes 1;\ndaemon off;\npid {w}/nginx.pid;\n"
            f"error_log {self.error_log} warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            f"    access_log {w}/access.log;\n"
            f"    client_body_temp_path {w}/temp/body;\n"
            f"    proxy_temp_path {w}/temp/proxy;\n"
            f"    fastcgi_temp_path {w}/temp/fastcgi;\n"
            f"    uwsgi_temp_path {w}/temp/uwsgi;\n"
            f"    scgi_temp_path {w}/temp/scgi;\n"
            f"    include {w}/site.conf;\n"
            "}\n")
        return self.conf

    def check(self) -> subprocess.CompletedProcess[str]:
        """``nginx -t`` on the config: its exit code and what it said."""
        self.write()
        return subprocess.run(
            [require_binary("nginx", "nginx"), "-t", "-e", "stderr", "-p", str(self.workdir),
             "-c", str(self.conf)], capture_output=True, text=True)

    def start(self) -> Nginx:
        self.write()
        self._launch([require_binary("nginx", "nginx"), "-e", "stderr", "-p", str(self.workdir),
                      "-c", str(self.conf)], self.port)
        return self


@dataclass
class HAProxy(ServerProcess):
    """HAProxy in the foreground running ``config`` (a whole haproxy.cfg) from ``workdir``."""

    config: str
    workdir: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="siaga-haproxy-")))
    port: int = 0
    """A port ``config`` listens on, waited for by ``start``."""
    proc: subprocess.Popen[bytes] | None = None
    program: ClassVar[str] = "haproxy"
    stop_grace_s: ClassVar[float] = 5.0

    @property
    def conf(self) -> Path:
        return self.workdir / "haproxy.cfg"

    def write(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(self.config)
        return self.conf

    def check(self) -> subprocess.CompletedProcess[str]:
        """``haproxy -c`` on the config: its exit code and what it said."""
        return subprocess.run([require_binary("haproxy", "haproxy"), "-c", "-f", str(self.write())],
                              capture_output=True, text=True)

    def start(self) -> HAProxy:
        self._launch([require_binary("haproxy", "haproxy"), "-db", "-f", str(self.write())],
                     self.port)
        return self

