"""``siaga-hub``: run the hub and administer its accounts and gateways.

    siaga-hub serve --config hub.toml [--host H] [--port P]
    siaga-hub proxy-config nginx|haproxy --hubs 127.0.0.1:8081,127.0.0.1:8082 [...]
    siaga-hub check-config [hub.toml]      (or --config hub.toml)
    siaga-hub config-reference > docs/configuration.md
    siaga-hub migrate [--config hub.toml]   (create or upgrade the database's schema)
    siaga-hub user add USERNAME --agency BPBD --role responder [--name N] [--password-stdin]
    siaga-hub user list
    siaga-hub user passwd USERNAME [--password-stdin]
    siaga-hub user remove USERNAME
    siaga-hub gateway add ID [--site S] [--name N] [--mosquitto-passwd FILE]
    siaga-hub gateway revoke ID

The account or gateway a command acts on is its positional argument (``--username U`` is
still accepted for it). ``--config`` may also come from ``SIAGA_HUB_CONFIG``; without
either, defaults apply. Only ``serve``, ``migrate``, ``user add`` and ``gateway add`` create an
SQLite database; the other commands refuse a file that does not exist. Every command that
opens the database brings its schema up to this release's (api/migrations.py).
Exit codes: 0 ok, 1 the command failed, 2 usage, 78 configuration error (EX_CONFIG),
141 stdout closed early (``| head``).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from siaga.api.errors import ConfigError, HubError
from siaga.api.settings import HubSettings, load_settings

if TYPE_CHECKING:  # imported where used: the CLI starts without the hub's modules
    from siaga.api.accounts import Accounts
    from siaga.api.db import Database

__all__ = ["main"]

EX_CONFIG = 78
_T = TypeVar("_T")


def _settings(args: argparse.Namespace) -> HubSettings:
    path = args.config or os.environ.get("SIAGA_HUB_CONFIG")
    return load_settings(path)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        try:
            password = getpass.getpass("Password: ")
            again = getpass.getpass("Again: ")
        except EOFError:  # no terminal and nothing piped: a script forgot --password-stdin
            raise HubError("no password given: type it at a terminal, or pipe it in with "
                           "--password-stdin") from None
        if again != password:
            raise HubError("the passwords differ")
    if not password:
        raise HubError("empty password")
    return password


def _check_registry(settings: HubSettings) -> None:
    from siaga.api.registry import read_registry_file

    if settings.registry.file is not None:
        read_registry_file(settings.registry.file)


def cmd_check_config(args: argparse.Namespace) -> int:
    if args.file is not None:
        args.config = args.file
    settings = _settings(args)
    _check_registry(settings)
    database = settings.database.url and "PostgreSQL" or settings.database.path
    print(f"ok: database {database}, telemetry "
          f"{getattr(settings.telemetry, 'kind', '?')}, registry "
          f"{settings.registry.file or '(none)'}, agencies {', '.join(settings.agencies)}")
    return 0


def cmd_config_reference(args: argparse.Namespace) -> int:
    from siaga.api.config_reference import render

    sys.stdout.write(render())
    return 0


def cmd_proxy_config(args: argparse.Namespace) -> int:
    from siaga.api.proxy_config import ProxySite, haproxy_config, nginx_config, proxy_warnings

    settings = _settings(args)
    try:
        site = ProxySite(server_name=args.server_name, hubs=tuple(args.hubs.split(",")),
                         certificate=args.cert, certificate_key=args.key,
                         https_port=args.https_port, http_port=args.http_port or None,
                         listen_address=args.listen)
        warnings = proxy_warnings(settings, site)
    except ValueError as exc:
        raise HubError(str(exc)) from None
    for warning in warnings:
        print(f"siaga-hub proxy-config: warning: {warning}", file=sys.stderr)
    render = nginx_config if args.kind == "nginx" else haproxy_config
    sys.stdout.write(render(settings, site))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from siaga.api.access_log import install_access_log_redaction
    from siaga.api.app import create_app
    from siaga.api.server import hub_server

    settings = _settings(args)
    _check_registry(settings)
    server = settings.server.model_copy(update={
        k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None})
    settings = settings.model_copy(update={"server": server})
    logging.basicConfig(level=server.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request at INFO: one line per InfluxDB write, hundreds a second in a
    # flood. Failures reach the log through the telemetry store's own warnings.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    install_access_log_redaction()
    hub_server(create_app(settings), settings).run()
    return 0


def _database(settings: HubSettings, create: bool = False) -> Database:
    """The hub database; a missing one is an error unless ``create``."""
    from siaga.api.services import open_database

    if (not create and settings.database.url is None
            and not Path(settings.database.path).exists()):
        raise HubError(f"no hub database at {settings.database.path}: give the hub's config "
                       "(--config or SIAGA_HUB_CONFIG), or create it with 'siaga-hub user add' "
                       "or 'siaga-hub serve'")
    return open_database(settings)


def cmd_migrate(args: argparse.Namespace) -> int:
    from siaga.api.migrations import migrate
    from siaga.api.services import connect_database

    db = connect_database(_settings(args))
    try:
        result = migrate(db)
        where = db.where
    finally:
        db.close()
    done = ", ".join(result.applied) or "nothing to do"
    print(f"ok: {where} at schema version {result.after} (was {result.before}): {done}")
    return 0


def _on_accounts(settings: HubSettings, work: Callable[[Accounts], Coroutine[Any, Any, _T]],
                 create: bool = False) -> _T:
    """``work`` done on the database's accounts; then the accounts (their hashing threads) and
    the database are closed. A missing database is an error unless ``create``."""
    from siaga.api.accounts import Accounts

    db = _database(settings, create)
    try:
        accounts = Accounts(db, settings.auth, settings.agencies)
        try:
            return asyncio.run(work(accounts))
        finally:
            accounts.close()  # its scrypt thread pool
    finally:
        db.close()


def cmd_user_add(args: argparse.Namespace) -> int:
    settings = _settings(args)
    password = _read_password(args)
    staff = _on_accounts(settings, lambda accounts: accounts.add_user(
        args.username, args.name or args.username, args.agency, args.role, password),
        create=True)
    print(f"added {staff.username} ({staff.role.value}, {staff.agency})")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    users = _on_accounts(_settings(args), lambda accounts: accounts.list_users())
    for s in users:
        print(f"{s.username}\t{s.role.value}\t{s.agency}\t{s.name}")
    return 0


def cmd_user_passwd(args: argparse.Namespace) -> int:
    settings = _settings(args)
    password = _read_password(args)
    _on_accounts(settings, lambda accounts: accounts.set_password(args.username, password))
    print(f"password of {args.username} changed; their sessions are closed")
    return 0


def cmd_user_remove(args: argparse.Namespace) -> int:
    _on_accounts(_settings(args), lambda accounts: accounts.remove_user(args.username))
    print(f"removed {args.username}; their sessions are closed")
    return 0


def cmd_gateway_revoke(args: argparse.Namespace) -> int:
    from siaga.api.gateway_tokens import GatewayTokens

    db = _database(_settings(args))
    try:
        asyncio.run(GatewayTokens(db).revoke(args.id))
    finally:
        db.close()
    print(f"token of {args.id} revoked (other hub processes stop accepting it within 30 s); "
          "remove its line from the Mosquitto password file too", file=sys.stderr)
    return 0


def cmd_gateway_add(args: argparse.Namespace) -> int:
    from siaga.api.broker_credentials import set_password_entry
    from siaga.api.gateway_tokens import GatewayTokens
    from siaga.api.registry import GatewayIn, Registry

    settings = _settings(args)
    db = _database(settings, create=True)
    try:
        registry = Registry(db)
        registry.load(settings.registry.file)

        async def add() -> str:
            if registry.gateway(args.id) is None or args.site or args.name:
                known = registry.gateway(args.id)
                await registry.put_gateway(args.id, GatewayIn(
                    name=args.name or (known.name if known else args.id),
                    site=args.site or (known.site if known else None)))
            return await GatewayTokens(db).issue(args.id)

        token = asyncio.run(add())
    finally:
        db.close()
    if args.mosquitto_passwd is not None:
        set_password_entry(args.mosquitto_passwd, args.id, token)
        print(f"# MQTT user {args.id} written to {args.mosquitto_passwd}; reload mosquitto "
              "(systemctl reload mosquitto)", file=sys.stderr)
    print(f"# token for gateway {args.id} (shown once; a new 'gateway add' replaces it):",
          file=sys.stderr)
    print(token)
    return 0


def _username(p: argparse.ArgumentParser) -> None:
    # Positional like 'gateway add ID'; --username stays accepted for scripts written before.
    p.add_argument("username", nargs="?", help="the staff account's username")
    p.add_argument("--username", dest="username_flag", metavar="USERNAME",
                   help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS,
                        help="hub.toml (default: $SIAGA_HUB_CONFIG, else built-in defaults)")
    parser = argparse.ArgumentParser(prog="siaga-hub", parents=[common],
                                     description="Siaga hub: API, ingest, incidents.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", parents=[common], help="run the hub (uvicorn)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(fn=cmd_serve)

    p = sub.add_parser("proxy-config", parents=[common],
                       help="print a reverse-proxy config for N hub processes (docs/scale.md)")
    p.add_argument("kind", choices=["nginx", "haproxy"])
    p.add_argument("--hubs", default="127.0.0.1:8081,127.0.0.1:8082",
                   help="host:port of each hub process, comma-separated "
                        "(default: 127.0.0.1:8081,127.0.0.1:8082)")
    p.add_argument("--server-name", default="siaga.example.go.id",
                   help="the public host name (default: siaga.example.go.id)")
    p.add_argument("--cert", type=Path,
                   default=Path("/etc/letsencrypt/live/siaga.example.go.id/fullchain.pem"),
                   help="TLS certificate chain (PEM)")
    p.add_argument("--key", type=Path,
                   default=Path("/etc/letsencrypt/live/siaga.example.go.id/privkey.pem"),
                   help="its private key (PEM)")
    p.add_argument("--https-port", type=int, default=443)
    p.add_argument("--http-port", type=int, default=80,
                   help="plain HTTP port that redirects to HTTPS (0: none)")
    p.add_argument("--listen", metavar="ADDRESS",
                   help="listen on this address only (default: every IPv4 and IPv6 address)")
    p.set_defaults(fn=cmd_proxy_config)

    p = sub.add_parser("check-config", parents=[common], help="validate the config and exit")
    p.add_argument("file", nargs="?", type=Path, help="hub.toml (or use --config)")
    p.set_defaults(fn=cmd_check_config)

    p = sub.add_parser("config-reference",
                       help="print the configuration reference (docs/configuration.md)")
    p.set_defaults(fn=cmd_config_reference)

    p = sub.add_parser("migrate", parents=[common],
                       help="create or upgrade the hub database's schema, then exit")
    p.set_defaults(fn=cmd_migrate)

    user = sub.add_parser("user", help="staff accounts").add_subparsers(dest="action",
                                                                         required=True)
    p = user.add_parser("add", parents=[common], help="add a staff account")
    _username(p)
    p.add_argument("--agency", required=True, help="agency code, e.g. BPBD, PMK")
    p.add_argument("--role", required=True, choices=["viewer", "responder", "admin"])
    p.add_argument("--name", help="display name")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of stdin instead of a prompt")
    p.set_defaults(fn=cmd_user_add)
    p = user.add_parser("list", parents=[common], help="list staff accounts")
    p.set_defaults(fn=cmd_user_list)
    p = user.add_parser("passwd", parents=[common], help="set a new password")
    _username(p)
    p.add_argument("--password-stdin", action="store_true")
    p.set_defaults(fn=cmd_user_passwd)
    p = user.add_parser("remove", parents=[common], help="delete an account, ending its sessions")
    _username(p)
    p.set_defaults(fn=cmd_user_remove)

    gw = sub.add_parser("gateway", help="gateways").add_subparsers(dest="action", required=True)
    p = gw.add_parser("add", parents=[common],
                      help="register a gateway and print a new token for it (once)")
    p.add_argument("id")
    p.add_argument("--site")
    p.add_argument("--name")
    p.add_argument("--mosquitto-passwd", type=Path, metavar="FILE",
                   help="also set the gateway's MQTT password (= the token) in this file")
    p.set_defaults(fn=cmd_gateway_add)
    p = gw.add_parser("revoke", parents=[common], help="revoke a gateway's token")
    p.add_argument("id")
    p.set_defaults(fn=cmd_gateway_revoke)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "config"):
        args.config = None
    if hasattr(args, "username_flag"):
        if args.username and args.username_flag and args.username != args.username_flag:
            parser.error(f"two usernames given: {args.username} and {args.username_flag}")
        args.username = args.username or args.username_flag
        if not args.username:
            parser.error(f"user {args.action}: the username is required")
    try:
        return int(args.fn(args))
    except ConfigError as exc:
        print(f"siaga-hub: configuration error: {exc}", file=sys.stderr)
        return EX_CONFIG
    except HubError as exc:
        print(f"siaga-hub: {exc.detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (| head): stop quietly, as a Unix filter does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # fd 1 even if sys.stdout is closed
        return 141


if __name__ == "__main__":
    sys.exit(main())
