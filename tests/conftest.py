"""The project's tests use the fixtures it ships to every suite (app/testing), and
pytester, to run a downstream suite against them (tests/test_testing_plugin.py)."""

import os

import pytest

from app.db.drivers import is_async

pytest_plugins = ["app.testing", "pytester"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # CI runs the suite four times (SQLite/PostgreSQL x sync/async) within its time
    # budget: the slow fault and load tests prove their point once, where production is.
    url = os.environ.get("TEST_DATABASE_URL") or "sqlite://"
    if url.startswith("postgresql") and not is_async(url):
        return
    skip = pytest.mark.skip(reason="slow fault/load test: runs on PostgreSQL in sync mode")
    for item in items:
        if item.get_closest_marker("once"):
            item.add_marker(skip)
