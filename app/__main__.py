"""Command line for operators: `python -m app migrate | create-superuser | openapi`."""

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError
from sqlalchemy.exc import ArgumentError, OperationalError

from app.core.config import get_settings


def _migrate(args: argparse.Namespace) -> None:
    from alembic import command

    from app.db import migrate

    url = get_settings().database_url
    if args.sql:
        # Offline mode: print the SQL for a DBA instead of running it.
        command.upgrade(migrate.alembic_config(url), args.revision, sql=True)
    else:
        migrate.upgrade(url, args.revision)
        print(f"database at {args.revision}")


def _read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Password (again): "):
        raise SystemExit("error: passwords do not match")
    return password


def _create_superuser(args: argparse.Namespace) -> None:
    from app.db.session import SessionLocal
    from app.schemas.user import UserCreate
    from app.services.users import create_user

    password = args.password if args.password is not None else _read_password()
    try:
        user_in = UserCreate(username=args.username, email=args.email, password=password)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SystemExit(f"error: {problems}") from None
    with SessionLocal() as db:
        user = create_user(
            db=db, user_in=user_in, bcrypt_rounds=get_settings().bcrypt_rounds, is_superuser=True
        )
    print(f"created superuser {user.username} (id {user.id})")


def _openapi(args: argparse.Namespace) -> None:
    from app.main import app

    document = json.dumps(app.openapi(), indent=2)
    if args.output == "-":
        print(document)
    else:
        with open(args.output, "w") as f:
            f.write(document + "\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    migrate = commands.add_parser("migrate", help="upgrade the database schema")
    migrate.add_argument("revision", nargs="?", default="head", help="target (default: head)")
    migrate.add_argument("--sql", action="store_true", help="print the SQL instead of running it")
    migrate.set_defaults(handler=_migrate)

    superuser = commands.add_parser("create-superuser", help="create a superuser")
    superuser.add_argument("--username", required=True)
    superuser.add_argument("--email", required=True)
    superuser.add_argument(
        "--password", help="read from the terminal without echo (or stdin) when omitted"
    )
    superuser.set_defaults(handler=_create_superuser)

    openapi = commands.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument("--output", "-o", default="-", help="file to write (default: stdout)")
    openapi.set_defaults(handler=_openapi)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from app.services.errors import DomainError

    args = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], None] = args.handler
    try:
        handler(args)
    except ArgumentError as exc:
        print(f"error: bad DATABASE_URL: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unreachable"
        print(f"error: database unreachable: {reason}", file=sys.stderr)
        return 1
    except DomainError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
