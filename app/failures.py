"""What went wrong, as one line that says what to do: for start-up and the command line.

A person's mistake (a bad setting, a missing database, a revision that does not
exist) is reported in one line; the traceback is for DEBUG=true.
"""

import os
import re
import sys
import traceback
from dataclasses import dataclass

from alembic.util import CommandError
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc

from app.core.config import BadSetting
from app.core.logging import scrub
from app.db.drivers import url_problem
from app.db.migrate import NotUnderAlembic, SchemaNotAtHead
from app.services.errors import DomainError

DEBUG_HINT = "set DEBUG=true to see the traceback"
# Pydantic's spelling of true; `Settings.debug` is the same switch once settings load.
_TRUE = {"1", "true", "t", "yes", "y", "on"}
# Settings whose values are never echoed back.
_SECRETS = {"secret_key", "first_superuser_password"}


@dataclass(frozen=True)
class Failure:
    message: str
    # The configuration is wrong rather than the world: the CLI exits 2, not 1.
    bad_setting: bool = False


def debug_requested() -> bool:
    """DEBUG from the environment, for when the settings themselves cannot be read."""
    return os.environ.get("DEBUG", "").strip().lower() in _TRUE


def _first_line(text: object) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return re.sub(r"\s+", " ", lines[0]) if lines else ""


def _bad_settings(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        value = "" if field in _SECRETS else f"={str(error.get('input'))[:40]!r}"
        problems.append(f"{field.upper()}{value}: {error['msg']}")
    return f"bad setting {'; '.join(problems)}; fix it in the environment or .env"


def _unreachable(reason: str) -> str:
    if "does not exist" in reason:
        advice = "create it (createdb) or fix DATABASE_URL"
    elif "unable to open database file" in reason:
        advice = "the SQLite file's folder must exist and be writable; fix DATABASE_URL"
    elif "no such table" in reason or "UndefinedTable" in reason:
        return "the database has no schema yet; run `python -m app migrate`"
    else:
        advice = "check DATABASE_URL and that the database server is running"
    return f"database unreachable: {reason}; {advice}"


def describe(exc: BaseException) -> Failure:
    """`exc` as one line saying what is wrong and what to do."""
    if isinstance(exc, BadSetting):
        return Failure(str(exc), bad_setting=True)
    if isinstance(exc, ValidationError) and exc.title == "Settings":
        return Failure(_bad_settings(exc), bad_setting=True)
    problem = url_problem(exc)
    if problem is not None and _from_engine_building(exc):
        return Failure(f"DATABASE_URL {problem}", bad_setting=True)
    if isinstance(exc, DomainError):
        return Failure(exc.detail)
    if isinstance(exc, SchemaNotAtHead):
        return Failure(str(exc))
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        return Failure(scrub(_unreachable(_first_line(exc.orig or exc))))
    if isinstance(exc, NotUnderAlembic):
        return Failure(str(exc))  # it already says what to do: `python -m app stamp`
    if isinstance(exc, CommandError):
        reason = _first_line(exc)
        if "Can't locate revision" in reason:
            reason += "; `python -m alembic history` lists the revisions this code knows"
        return Failure(f"migration failed: {reason}")
    if isinstance(exc, sa_exc.SQLAlchemyError):
        orig = getattr(exc, "orig", None)
        return Failure(scrub(f"database error: {_first_line(orig or exc)}; {DEBUG_HINT}"))
    if isinstance(exc, OSError) and exc.filename:
        return Failure(
            f"{exc.strerror}: {exc.filename}; its folder must exist and be writable "
            "(for SQLite, the folder in DATABASE_URL)"
        )
    detail = _first_line(exc)
    what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return Failure(scrub(f"unexpected {what}; {DEBUG_HINT}"))


def _from_engine_building(exc: BaseException) -> bool:
    # An ArgumentError is always about arguments SQLAlchemy was given; a missing
    # module only means a missing driver when SQLAlchemy was importing one.
    if isinstance(exc, sa_exc.ArgumentError):
        return True
    frames = traceback.extract_tb(exc.__traceback__)
    return any(frame.name == "import_dbapi" for frame in frames)


def print_failure(exc: BaseException, *, debug: bool) -> Failure:
    """Write `exc` to stderr as `error: <one line>`, after its traceback when debugging."""
    failure = describe(exc)
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"error: {failure.message}", file=sys.stderr, flush=True)
    return failure
