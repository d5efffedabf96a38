"""Fixtures for the operations tests: apps built with chosen settings, captured log lines."""

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.core.logging import configure_logging
from app.testing.clients import AppClient


@pytest.fixture
def make_client(client_with: Callable[..., AppClient]) -> Callable[..., AppClient]:
    """`client_with`, logging as the service configured with LOG_FORMAT would, and
    answering unhandled errors with the app's 500 (what a client would see)."""

    def make(**changes: Any) -> AppClient:
        configure_logging(changes.get("log_format", "text"))
        return client_with(raise_server_exceptions=False, **changes)

    return make


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
