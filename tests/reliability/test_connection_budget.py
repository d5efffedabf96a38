"""Start-up warns, in one line, when every worker's pools cannot fit in the PostgreSQL
server's connections (issue 17, item 9): past that, requests under load would be
refused with "too many clients", a 503 no retry cures."""

import logging

import pytest
from sqlalchemy import text


@pytest.fixture
def admitted(settings, db):
    """Connections the test server admits for ordinary roles."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("SQLite has no connection limit")
    rows = dict(tuple(row) for row in db.execute(text(
        "SELECT name, setting FROM pg_settings WHERE name IN "
        "('max_connections', 'superuser_reserved_connections', 'reserved_connections')"
    )).all())
    reserved = int(rows["superuser_reserved_connections"]) + int(rows.get(
        "reserved_connections", 0))
    return int(rows["max_connections"]) - reserved, int(rows["max_connections"]), reserved


def budget_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and "connection budget" in r.getMessage()]


def test_pools_beyond_the_servers_connections_are_one_warning_line(
    client_with, caplog, admitted
):
    available, maximum, reserved = admitted
    # 2 + 1 per pool, two pools (analytics reads the same server): 6 per worker.
    workers = available // 6 + 1
    with caplog.at_level(logging.WARNING, logger="app.startup"):
        client_with(web_concurrency=workers, db_pool_size=2, db_max_overflow=1)

    assert budget_warnings(caplog) == [
        f"connection budget: the pools may open {workers * 6} connections ({workers} "
        "worker(s) × 2 pool(s) (primary and analytics pools) × (2 DB_POOL_SIZE + 1 "
        f"DB_MAX_OVERFLOW)) but the server admits {available} (max_connections {maximum} − "
        f"{reserved} reserved), other clients included; lower DB_POOL_SIZE, DB_MAX_OVERFLOW "
        "or WEB_CONCURRENCY, or raise the server's max_connections"
    ]


def test_pools_that_fit_say_nothing(client_with, caplog, admitted):
    available, _, _ = admitted
    workers = available // 6  # exactly what fits: 6 per worker
    with caplog.at_level(logging.WARNING, logger="app.startup"):
        client = client_with(web_concurrency=workers, db_pool_size=2, db_max_overflow=1)

    assert budget_warnings(caplog) == []
    assert client.get("/health/ready").status_code == 200


def test_serve_tells_its_workers_how_many_they_are(monkeypatch):
    import app.serve
    from app.__main__ import main

    seen = {}
    monkeypatch.setattr(app.serve, "serve", lambda *a, **k: seen.update(
        workers=__import__("os").environ["WEB_CONCURRENCY"]))
    # Set, so that monkeypatch restores it (unset) after main() changed it: uvicorn reads
    # WEB_CONCURRENCY too, and every later server of this process would start 3 workers.
    monkeypatch.setenv("WEB_CONCURRENCY", "1")

    main(["serve", "--workers", "3"])

    assert seen == {"workers": "3"}
