"""What went wrong, as one line that says what to do: for start-up and the command line.

A person's mistake (a bad setting, a missing database, a revision that does not
exist) is reported in one line; the traceback is for DEBUG=true. Failures are told
apart by their type, and a database's by its SQLSTATE or result code
(app/db/errors.py), never by the wording of a message.
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
from app.db import errors as db_errors
from app.db.migrate import NotUnderAlembic, SchemaNotAtHead, UnknownRevision, UnknownTarget
from app.services.commit import SequenceRepaired
from app.services.errors import DomainError

DEBUG_HINT = "set DEBUG=true to see the traceback"
# Pydantic's spelling of true; `Settings.debug` is the same switch once settings load.
_TRUE = {"1", "true", "t", "yes", "y", "on"}
# Settings whose values are never echoed back.
_SECRETS = {"secret_key", "first_superuser_password"}
# SQLite cannot open the file: its folder is missing or not writable.
_SQLITE_CANTOPEN = 14


@dataclass(frozen=True)
class Failure:
    message: str
    # The configuration is wrong rather than the world: the CLI exits 2, not 1.
    bad_setting: bool = False


class CannotStart(Exception):
    """The service cannot start (`python -m app serve`): a worker's start-up failed, not
    for a passing database outage; `failure` says why."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


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


def _database_failure(exc: sa_exc.DBAPIError, setting: str) -> str:
    reason = _first_line(exc.orig or exc)
    if db_errors.sqlite_code(exc) == _SQLITE_CANTOPEN:
        advice = f"the SQLite file's folder must exist and be writable; fix {setting}"
    elif db_errors.outage(exc) is db_errors.Outage.READ_ONLY:
        advice = f"it refuses writes (a standby?); point {setting} at the primary"
    else:
        advice = f"check {setting} (does the database exist?) and that the server is running"
    return f"database unreachable: {reason}; {advice}"


def describe(exc: BaseException, *, setting: str = "DATABASE_URL") -> Failure:
    """`exc` as one line saying what is wrong and what to do (`setting`: the one naming the
    database, for the advice)."""
    if isinstance(exc, CannotStart):
        return Failure(f"start-up failed: {exc.failure.message}", exc.failure.bad_setting)
    if isinstance(exc, BadSetting):
        return Failure(str(exc), bad_setting=True)
    if isinstance(exc, ValidationError) and exc.title == "Settings":
        return Failure(_bad_settings(exc), bad_setting=True)
    if isinstance(exc, DomainError):
        return Failure(exc.detail)
    if isinstance(
        exc, SchemaNotAtHead | NotUnderAlembic | UnknownRevision | UnknownTarget | SequenceRepaired
    ):
        return Failure(str(exc))  # each already says what to do
    if isinstance(exc, CommandError):
        reason = _first_line(exc)
        return Failure(f"migration failed: {reason}")
    if isinstance(exc, sa_exc.DBAPIError) and db_errors.outage(exc) is not None:
        return Failure(scrub(_database_failure(exc, setting)))
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


def print_failure(exc: BaseException, *, debug: bool) -> Failure:
    """Write `exc` to stderr as `error: <one line>`, after its traceback when debugging."""
    failure = describe(exc)
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"error: {failure.message}", file=sys.stderr, flush=True)
    return failure
