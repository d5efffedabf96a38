"""Command line for operators: `python -m app serve | migrate | stamp | create-superuser |
openapi | seed`."""

import argparse
import getpass
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from app.core.config import get_settings
from app.failures import debug_requested, print_failure


def _migrate(args: argparse.Namespace) -> None:
    from alembic import command

    from app.db import migrate

    url = get_settings().database_url
    if args.sql:
        # Offline mode: print the SQL for a DBA instead of running it.
        migrate.check_revisions(None, args.revision)
        command.upgrade(migrate.alembic_config(url), args.revision, sql=True)
    else:
        migrate.upgrade(url, args.revision)
        print(f"database at {args.revision}")


def _stamp(args: argparse.Namespace) -> None:
    import app.models  # noqa: F401  (registers every table on Base.metadata)
    from app.db import migrate
    from app.db.adopt import MAX_LINES, CannotAdopt, adopt
    from app.db.base import Base

    try:
        adopted = adopt(
            get_settings().database_url, Base.metadata, limit=None if args.all else MAX_LINES
        )
    except CannotAdopt as exc:
        lines = [f"error: {exc.summary}", *(f"  {line}" for line in exc.details)]
        raise SystemExit("\n".join(lines)) from None
    if adopted.already:
        advice = (
            "it is at head" if adopted.revision == migrate.head_revision()
            else "`python -m app migrate` upgrades it"
        )
        print(f"database already under Alembic, at {adopted.revision}; nothing to stamp ({advice})")
    else:
        print(f"database matches the models; stamped at {adopted.revision}")


MAX_LINES_SHOWN = 20  # app/db/adopt.py's MAX_LINES, without importing the database layer


def _read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Password (again): "):
        raise SystemExit("error: passwords do not match")
    return password


def _create_superuser(args: argparse.Namespace) -> None:
    from app.db import migrate
    from app.db.session import batch_session
    from app.schemas.user import UserCreate
    from app.services.commit import SequenceRepaired
    from app.services.users import create_user

    settings = get_settings()
    migrate.require_head(settings.database_url)
    password = args.password if args.password is not None else _read_password()
    try:
        user_in = UserCreate(username=args.username, email=args.email, password=password)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SystemExit(f"error: {problems}") from None
    with batch_session(settings) as db:
        try:
            user = create_user(
                db=db, user_in=user_in, bcrypt_rounds=settings.bcrypt_rounds, is_superuser=True
            )
        except SequenceRepaired:  # ids were copied in; the sequence is past them now
            user = create_user(
                db=db, user_in=user_in, bcrypt_rounds=settings.bcrypt_rounds, is_superuser=True
            )
    print(f"created superuser {user.username} (id {user.id})")


def _openapi(args: argparse.Namespace) -> None:
    from app.main import create_app

    document = json.dumps(create_app(get_settings()).openapi(), indent=2)
    if args.output == "-":
        print(document)
    else:
        with open(args.output, "w") as f:
            f.write(document + "\n")


def _seed(args: argparse.Namespace) -> None:
    from sqlalchemy.pool import NullPool

    from app.core.progress import ProgressReporter
    from app.core.security import hash_password
    from app.db import migrate
    from app.db.engines import build_sync_engine
    from app.services.demo import SeedCounts, seed

    settings = get_settings()
    migrate.require_head(settings.database_url)
    if args.items and not args.users:
        raise SystemExit("error: items need owners: --items needs --users of 1 or more")
    password = args.password or secrets.token_urlsafe(12)
    if not 8 <= len(password) <= 128:
        raise SystemExit("error: --password must be 8 to 128 characters")
    counts = SeedCounts(users=args.users, teams=args.teams, heroes=args.heroes, items=args.items)
    started = time.monotonic()
    engine = build_sync_engine(settings.database_url, settings, poolclass=NullPool)
    try:
        # One hash for everyone: bcrypt at cost 12 takes ~0.25 s, 100,000 of them hours.
        seed(
            engine=engine,
            counts=counts,
            hashed_password=hash_password(password, settings.bcrypt_rounds),
            batch_size=args.batch_size,
            progress=ProgressReporter(sys.stderr),
        )
    finally:
        engine.dispose()
    print(
        f"seeded {_count_of(counts.users, 'user')}, {_count_of(counts.teams, 'team')}, "
        f"{_count_of(counts.heroes, 'hero', 'heroes')} and {_count_of(counts.items, 'item')} "
        f"in {time.monotonic() - started:.1f}s"
    )
    if counts.users:
        print(f"every seeded user's password: {password}")


def _count_of(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def _import_legacy(args: argparse.Namespace) -> None:
    import tomllib
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from app.db import migrate
    from app.services.legacy_import import ImportProblem, Resolutions, import_legacy

    settings = get_settings()
    migrate.require_head(settings.database_url)
    try:
        zone = ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SystemExit(
            f"error: --timezone {args.timezone!r} is not a time zone; give the zone the "
            "legacy application wrote its timestamps in, e.g. UTC or Europe/Paris"
        ) from None
    rename, skip, tables = {}, set(args.skip), {}
    if args.resolve:
        try:
            with open(args.resolve, "rb") as f:
                plan = tomllib.load(f)
            rename.update({str(k): str(v) for k, v in plan.get("rename", {}).items()})
            skip.update(str(name) for name in plan.get("skip", []))
            tables.update({str(k): str(v) for k, v in plan.get("tables", {}).items()})
        except (OSError, tomllib.TOMLDecodeError, AttributeError, TypeError) as exc:
            raise SystemExit(f"error: --resolve {args.resolve}: {exc}") from None
    for option, pairs, into in (("--rename", args.rename, rename), ("--table", args.table, tables)):
        for pair in pairs:
            old, sep, new = pair.partition("=")
            if not (old and sep and new):
                raise SystemExit(f"error: {option} {pair!r}: write it as OLD=NEW")
            into[old] = new
    started = time.monotonic()
    try:
        report = import_legacy(
            args.source or settings.database_url,
            settings.database_url,
            zone=zone,
            schema=args.schema,
            resolutions=Resolutions(rename=rename, skip=frozenset(skip)),
            table_map=tables,
            users_table=args.users_table,
        )
    except ImportProblem as exc:
        raise SystemExit(f"error: {exc}") from None
    for table in sorted(set(report.imported) | set(report.already)):
        print(
            f"{table}: {report.imported[table]} imported, "
            f"{report.already[table]} already imported before"
        )
    for line in (*report.notes, *report.skipped):
        print(f"note: {line}")
    if report.sequences:
        print(f"sequences reset: {', '.join(report.sequences)}")
    print(
        f"{sum(report.imported.values())} rows imported, {len(report.refused)} refused, "
        f"{len(report.skipped)} skipped as asked, in {time.monotonic() - started:.1f}s"
    )
    if report.refused:
        lines = [f"  {refusal}" for refusal in report.refused]
        raise SystemExit(
            "\n".join(
                [
                    f"error: {len(report.refused)} legacy rows were not imported (what was "
                    "imported stays; resolve these, then run the same command again):",
                    *lines,
                ]
            )
        )


def _serve(args: argparse.Namespace) -> None:
    from app.serve import serve

    # Every worker counts the workers' pools against the server (app/db/budget.py).
    os.environ["WEB_CONCURRENCY"] = str(args.workers)
    # uvicorn's switch: the app writes the access line (app.access) in place of uvicorn's.
    serve(args.host, args.port, args.workers, loop=args.loop,
          log_format=get_settings().log_format, drain=args.drain,
          access_log=not args.no_access_log)


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {minimum} or more")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be 0 to 3600 seconds")
    return value


def _count(text: str) -> int:
    return _whole_number(text, 0)


def _positive(text: str) -> int:
    return _whole_number(text, 1)


# Commands that open DATABASE_URL: a URL that cannot make an engine is a bad setting.
_USING_THE_DATABASE = {_migrate, _stamp, _create_superuser, _seed, _import_legacy}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve",
        help="serve the API (uvicorn, uvloop, httptools, TCP_NODELAY with any worker count)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve.add_argument("--port", type=_positive, default=8000, help="default: 8000")
    serve.add_argument("--workers", type=_positive, default=1, help="processes (default: 1)")
    serve.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop",
                       help="event loop (default: uvloop; asyncio where uvloop is unavailable)")
    serve.add_argument(
        "--drain", type=_seconds, default=0, metavar="SECONDS",
        help="on SIGTERM, answer /health/ready with 503 for this long before stopping, so "
        "that a load balancer stops sending first (default: 0)",
    )
    serve.add_argument("--no-access-log", action="store_true",
                       help="no log line per request (uvicorn's flag of the same name)")
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="upgrade the database schema")
    migrate.add_argument("revision", nargs="?", default="head", help="target (default: head)")
    migrate.add_argument("--sql", action="store_true", help="print the SQL instead of running it")
    migrate.set_defaults(handler=_migrate)

    stamp = commands.add_parser(
        "stamp",
        help="adopt a database built without Alembic (create_all)",
        description="Check that the database's schema matches the models (tables, columns, "
        "types, primary keys, unique constraints, foreign keys, indexes) and stamp it at the "
        "newest revision; if it differs, list the differences and change nothing. Another "
        "application's database (its own tables, or another Alembic/Flask-Migrate history) "
        "is refused: `import-legacy` copies its rows instead.",
    )
    stamp.add_argument(
        "--all", action="store_true", help=f"list every difference (default: {MAX_LINES_SHOWN})"
    )
    stamp.set_defaults(handler=_stamp)

    superuser = commands.add_parser(
        "create-superuser",
        help="create a superuser",
        description="Create a user who may do everything, in a migrated database. The "
        "password is asked for without echo (or read from stdin) unless --password is given.",
    )
    superuser.add_argument(
        "--username",
        required=True,
        help="3 to 50 of A-Z a-z 0-9 _ . - (unique in any letter case); also a login name",
    )
    superuser.add_argument(
        "--email", required=True, help="a valid address, unique, stored in lower case"
    )
    superuser.add_argument(
        "--password", help="read from the terminal without echo (or stdin) when omitted"
    )
    superuser.set_defaults(handler=_create_superuser)

    legacy = commands.add_parser(
        "import-legacy",
        help="copy a legacy application's users and rows into this database",
        description="Copy the users (and every other table that has a table of the same "
        "name here) of a legacy application's database into DATABASE_URL, migrated to "
        "head. Usernames and emails pass this project's rules; rows that do not fit are "
        "listed with why and left out until resolved (--rename, --skip, --resolve). "
        "Running it again imports nothing twice. See docs/migrating-from-legacy-sqlalchemy.md.",
    )
    legacy.add_argument(
        "--from", dest="source", metavar="URL",
        help="the legacy database (default: DATABASE_URL, with --schema)",
    )
    legacy.add_argument("--schema", help="the legacy tables' PostgreSQL schema, e.g. legacy")
    legacy.add_argument(
        "--timezone", required=True,
        help="the zone the legacy timestamps without one were written in, e.g. UTC",
    )
    legacy.add_argument("--users-table", help="default: user, users or auth_user")
    legacy.add_argument(
        "--rename", action="append", default=[], metavar="OLD=NEW",
        help="import legacy user OLD under the username NEW (repeatable)",
    )
    legacy.add_argument(
        "--skip", action="append", default=[], metavar="USERNAME",
        help="leave legacy user USERNAME (and their rows) out (repeatable)",
    )
    legacy.add_argument(
        "--table", action="append", default=[], metavar="LEGACY=OURS",
        help="copy legacy table LEGACY into table OURS (repeatable)",
    )
    legacy.add_argument(
        "--resolve", metavar="FILE",
        help="a TOML file: skip = [...], [rename] old = \"new\", [tables] legacy = \"ours\"",
    )
    legacy.set_defaults(handler=_import_legacy)

    openapi = commands.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument("--output", "-o", default="-", help="file to write (default: stdout)")
    openapi.set_defaults(handler=_openapi)

    seed = commands.add_parser(
        "seed",
        help="fill the database with demo data",
        description="Insert demo users, teams, heroes and items in batches (progress on "
        "stderr). Seeded users all share one password, printed at the end. Names are "
        "tagged per run, so seeding again adds rows.",
    )
    seed.add_argument("--users", type=_count, default=100, help="default: 100")
    seed.add_argument("--teams", type=_count, default=10, help="default: 10")
    seed.add_argument("--heroes", type=_count, default=1000, help="default: 1000")
    seed.add_argument(
        "--items", type=_count, default=1000, help="owned by the seeded users; default: 1000"
    )
    seed.add_argument(
        "--batch-size", type=_positive, default=5000, help="rows per INSERT and commit (5000)"
    )
    seed.add_argument("--password", help="the seeded users' password (default: random, printed)")
    seed.set_defaults(handler=_seed)
    return parser


def _debug() -> bool:
    try:
        return get_settings().debug or debug_requested()
    except ValidationError:
        return debug_requested()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every failure is one line on stderr and exit 1, or 2 for a bad
    setting (argparse uses 2 for bad arguments too). DEBUG=true adds the traceback."""
    args = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], None] = args.handler
    try:
        settings = get_settings()  # a bad setting is reported before any command runs
        if handler in _USING_THE_DATABASE:
            from app.startup import check_database_urls

            check_database_urls(settings)
        handler(args)
        sys.stdout.flush()  # so that a reader who left shows up here, not at exit
    except BrokenPipeError:
        # The reader stopped reading (`| head`): stop quietly, non-zero like cat or git.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        failure = print_failure(exc, debug=_debug())
        return 2 if failure.bad_setting else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
