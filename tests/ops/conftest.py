"""Fixtures for the operations tests: apps built with chosen settings, captured log lines."""

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings, get_settings
from app.db.session import get_analytics_db, get_db
from app.main import create_app


@pytest.fixture
def make_client(db: Session, settings: Settings) -> Iterator[Callable[..., TestClient]]:
    """A client for an app built with the test settings plus `overrides`, on the test's session.

    `prepare(app)` may add routes before the app starts."""
    clients: list[TestClient] = []

    def make(prepare: Callable[[FastAPI], Any] | None = None, **overrides: Any) -> TestClient:
        app_settings = settings.model_copy(update=overrides)
        application = create_app(app_settings)
        application.dependency_overrides[get_db] = lambda: db
        application.dependency_overrides[get_analytics_db] = lambda: db
        application.dependency_overrides[get_settings] = lambda: app_settings
        if prepare is not None:
            prepare(application)
        client = TestClient(application, raise_server_exceptions=False)
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


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
