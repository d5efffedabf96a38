"""What the service does when it starts, and how it says why it could not.

A start-up that fails (a bad setting, a database that is missing or unreachable,
a migration that fails) ends the process with one log line that says what to do
and exit code 3, uvicorn's own code for it (its `--workers` supervisor then stops
instead of restarting the worker). The traceback comes first with DEBUG=true.
"""

import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import BadSetting, Settings
from app.db import migrate
from app.db.session import batch_session, check_database_urls, describe_databases
from app.failures import debug_requested, describe, print_failure
from app.services.auth import ensure_first_superuser

logger = logging.getLogger(__name__)

STARTUP_FAILURE = 3


def start_up(settings: Settings) -> None:
    """Check the URLs and the schema (migrating if asked to), create the first superuser,
    say how we run."""
    check_database_urls(settings)
    if settings.auto_migrate:
        migrate.upgrade(settings.database_url)
    else:
        # Also the first connection: a database that is missing or down is found here.
        migrate.require_head(settings.database_url)
    with batch_session(settings) as db:
        try:
            ensure_first_superuser(db=db, settings=settings)
        except ValidationError as exc:
            error = exc.errors()[0]
            name = f"FIRST_SUPERUSER_{str(error['loc'][0]).upper()}"
            # "NAME is", not "NAME:": the log filter takes "PASSWORD: x" for a secret.
            raise BadSetting(name, f"is not accepted: {error['msg']}") from None
    logger.info("serving in %s", describe_databases(settings))


def lifespan_for(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            # Blocking work (migrations, bcrypt) stays off the event loop.
            await run_in_threadpool(start_up, settings)
        except Exception as exc:
            # For ExitOnStartupFailure, when a server runs the app.
            app.state.startup_failure = (exc, settings.debug)
            raise
        yield

    return lifespan


class ExitOnStartupFailure:
    """Around the lifespan of the app a server runs: a failed start-up is one line and exit 3.

    Starlette hands the server the failure as a formatted traceback, which uvicorn
    prints and follows with a line of its own; this ends the process before either."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_or_exit(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                failure = getattr(scope["app"].state, "startup_failure", None)
                if failure is not None:
                    _exit(*failure)
            await send(message)

        await self.app(scope, receive, send_or_exit)


def _exit(exc: BaseException, debug: bool) -> None:
    if debug or debug_requested():
        logger.error("start-up failed", exc_info=exc)
    logger.critical("start-up failed: %s", describe(exc).message)
    for handler in logging.getLogger("app").handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    # Nothing has been served and nothing needs closing; a normal exit would go back
    # through Starlette and uvicorn, which print the traceback after this line.
    os._exit(STARTUP_FAILURE)


def served(build: Callable[[], FastAPI]) -> FastAPI:
    """The app a server imports: settings that cannot be read end the import in one line."""
    try:
        application = build()
    except Exception as exc:
        print_failure(exc, debug=debug_requested())
        raise SystemExit(STARTUP_FAILURE) from None
    application.add_middleware(ExitOnStartupFailure)
    return application
