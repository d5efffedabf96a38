"""Fixtures for the operations tests: apps built with chosen settings, captured log lines."""

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.db.database import Database
from app.db.session import get_analytics_db, get_db
from app.main import create_app
from app.testing.clients import AppClient, app_client, one_database


@pytest.fixture
def make_client(database: Database, settings: Settings) -> Iterator[Callable[..., AppClient]]:
    """A client for an app built with the test settings plus `overrides`, on the test's session.

    `prepare(app)` may add routes before the app starts."""
    with ExitStack() as clients:

        def make(prepare: Callable[[FastAPI], Any] | None = None, **overrides: Any) -> AppClient:
            app_settings = settings.model_copy(update=overrides)
            application = create_app(app_settings)
            application.dependency_overrides[get_db] = one_database(database)
            application.dependency_overrides[get_analytics_db] = one_database(database)
            if prepare is not None:
                prepare(application)
            return clients.enter_context(app_client(application, raise_server_exceptions=False))

        yield make


class _AsOnStderr(logging.Handler):
    """Keeps each `app.*` record formatted exactly as the service's stderr handler formats it."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        stderr = next(h for h in logging.getLogger("app").handlers if h.get_name() == "app-stderr")
        self.lines.append(stderr.format(record))


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """The lines the service writes to stderr during the test, in its configured format."""
    handler = _AsOnStderr()
    logger = logging.getLogger("app")
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)
