"""The service as operators run it: uvicorn in a subprocess on a fresh database of its own."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.testing.databases import fresh_database
from tests.live import LiveServer, live_server


@contextmanager
def service(
    folder: Path, serve_args: list[str] | None = None, **settings: str
) -> Iterator[LiveServer]:
    """uvicorn on a new empty database (migrated at start-up), its output in folder/server.log;
    `python -m app serve` with `serve_args` instead of plain uvicorn when they are given."""
    with fresh_database(folder, "ops") as url:
        with live_server(url, folder / "server.log", serve_args=serve_args, **settings) as server:
            yield server
