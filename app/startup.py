"""What the service does when it starts, before it serves its first request.

A start-up that fails (a bad setting, a database that is missing or unreachable, a
migration that fails) raises; the app reports it in one line that says what to do
(app/main.py, app/failures.py), with the traceback only under DEBUG=true.
"""

import logging
import random
import time
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from app.core import secret_key
from app.core.config import BadSetting, Settings
from app.db import budget, engines, migrate
from app.db.errors import rerunnable
from app.db.session import batch_session
from app.services.auth import ensure_first_superuser
from app.services.unit_of_work import RERUN_SECONDS

logger = logging.getLogger(__name__)


def check_database_urls(settings: Settings) -> None:
    """BadSetting unless both database URLs can make engines (nothing connects)."""
    urls = {"DATABASE_URL": (settings.database_url, False)}
    if settings.analytics_database_url:
        urls["ANALYTICS_DATABASE_URL"] = (settings.analytics_database_url, True)
    for name, (url, read_only) in urls.items():
        # No timeouts: bounding psycopg2's waits installs a process-wide callback.
        engine = engines.build_engine(
            url, settings, read_only=read_only, timeouts=False, setting=name
        )
        engines.sync_view(engine).dispose()


def start_up(settings: Settings) -> Settings:
    """Check the URLs and the schema (migrating if asked to), create the first superuser,
    say how we run. Returns the settings the app serves with: with the signing key from
    SECRET_KEY_FILE, created there now if need be, when SECRET_KEY is not set."""
    check_database_urls(settings)
    if settings.auto_migrate:
        migrate.upgrade(settings.database_url)
    else:
        # Also the first connection: a database that is missing or down is found here.
        migrate.require_head(settings.database_url)
    if not settings.secret_key:
        key = secret_key.load_or_create(Path(settings.secret_key_file))
        settings = settings.model_copy(update={"secret_key": key})
    # Instances starting together on one SQLite file race for the first superuser: the
    # one that read before another wrote is refused (BUSY) and, like a request's unit of
    # work, simply runs its step again.
    deadline = time.monotonic() + RERUN_SECONDS
    while True:
        try:
            _first_superuser_and_budget(settings)
            break
        except DBAPIError as exc:
            if not rerunnable(exc, after_disconnect=False) or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.005, 0.05))
    logger.info("serving in %s", engines.describe(settings))
    return settings


def _first_superuser_and_budget(settings: Settings) -> None:
    with batch_session(settings) as db:
        try:
            ensure_first_superuser(db, settings=settings)
        except ValidationError as exc:
            error = exc.errors()[0]
            name = f"FIRST_SUPERUSER_{str(error['loc'][0]).upper()}"
            # "NAME is", not "NAME:": the log filter takes "PASSWORD: x" for a secret.
            raise BadSetting(name, f"is not accepted: {error['msg']}") from None
        if (warning := budget.over_budget(settings, db.connection())) is not None:
            logger.warning(warning)
