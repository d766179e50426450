"""The `callsvc` command: serve, migrate, keys create, secret, openapi."""

import argparse
import base64
import json
import secrets
import sys

from callsvc.auth import service as auth_service
from callsvc.auth.models import ApiKeyCreate, Role
from callsvc.clock import Clock
from callsvc.db import build_engine, build_session_factory, session_scope
from callsvc.errors import CallsvcError
from callsvc.logs import configure_logging
from callsvc.schema import upgrade_to_head
from callsvc.settings import Settings

GRACEFUL_SHUTDOWN_SECONDS = 30


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    configure_logging(settings.log_level)
    upgrade_to_head(build_engine(settings))
    # An import string and a factory, so that each worker process builds its own app (and engine).
    uvicorn.run(
        "callsvc.app:create_app_from_environment",
        factory=True,
        workers=args.workers,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # Past this, a stop no longer waits for open connections; deliveries handed to the writer
        # are still written before the process ends.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def _migrate(settings: Settings, _: argparse.Namespace) -> None:
    upgrade_to_head(build_engine(settings))
    print("database migrated to head")


def _create_key(settings: Settings, args: argparse.Namespace) -> None:
    engine = build_engine(settings)
    upgrade_to_head(engine)
    data = ApiKeyCreate(name=args.name, role=args.role, team=args.team, manager_id=args.manager)
    try:
        with session_scope(build_session_factory(engine)) as session:
            key, token = auth_service.create_key(session, data=data, now=Clock().now())
            print(f"created {key.role} key {key.id} ({key.name}); it is shown only now:")
    except CallsvcError as exc:
        sys.exit(f"error: {exc.detail}")
    print(token)


def _secret(_: Settings, __: argparse.Namespace) -> None:
    print("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())


def _openapi(settings: Settings, _: argparse.Namespace) -> None:
    from callsvc.app import create_app

    print(json.dumps(create_app(settings).openapi(), indent=2, sort_keys=True))


def _process_count(value: str) -> int:
    """A --workers value: a whole number of processes, 1 or more."""
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of processes, 1 or more (got {value!r})")
    return count


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callsvc", description="Call tracking for sales teams.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="migrate the database, then serve HTTP")
    serve.add_argument("--workers", type=_process_count, default=1, help="processes serving the port (1 on SQLite)")
    serve.set_defaults(run=_serve)
    commands.add_parser("migrate", help="migrate the database to head").set_defaults(run=_migrate)
    commands.add_parser("secret", help="print a fresh whsec_ key for the generic webhook").set_defaults(run=_secret)
    commands.add_parser("openapi", help="print the OpenAPI spec as JSON").set_defaults(run=_openapi)
    keys = commands.add_parser("keys", help="API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create a key; the key alone is printed on the last line")
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--name", required=True)
    create.add_argument("--team", help="the team a supervisor key supervises")
    create.add_argument("--manager", type=int, help="the manager id a rep key acts for")
    create.set_defaults(run=_create_key)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Run the callsvc command line."""
    args = _parser().parse_args(argv)
    args.run(Settings(), args)
