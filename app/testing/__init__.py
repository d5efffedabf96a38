"""A pytest plugin: the fixtures and factories the service's own tests use, for any suite.

Adopt it from a conftest (or run `pytest -p app.testing`):

    pytest_plugins = ["app.testing"]

and write tests with `db`, `client`, `user_headers`, ... (app/testing/fixtures.py) and
`from app.testing.factories import UserFactory, TeamFactory, HeroFactory, ItemFactory`.
Each run gets a fresh, migrated database (a SQLite file, or a new database on the
PostgreSQL server TEST_DATABASE_URL names, dropped at the end); each test runs in a
transaction that is rolled back. An async driver in TEST_DATABASE_URL runs the tests
in async mode (app/testing/asyncmode.py).

Only test suites import this package, so it may import the development
dependencies (pytest, factory-boy, httpx: requirements-dev.txt), which the
service itself never needs.
"""

import os

TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256"
# Where the app's own engines point under test: a file that cannot be created (its
# folder is a device), so a test that bypasses the fixtures fails instead of writing
# to a real database.
UNUSED_DATABASE_URL = "sqlite:////dev/null/tests-use-the-database_url-fixture.db"

# Loading the plugin imports the app, whose settings are read once per process at
# import: keep that from writing `.secret_key` into the user's folder, migrating, or
# building the app's module-level engines against the user's own database (from
# `.env` or the shell). The tests' app gets its settings from the `settings` fixture.
os.environ.setdefault("SECRET_KEY", TEST_SECRET_KEY)
os.environ.setdefault("AUTO_MIGRATE", "false")
os.environ["DATABASE_URL"] = UNUSED_DATABASE_URL
os.environ["ANALYTICS_DATABASE_URL"] = ""

pytest_plugins = ["app.testing.asyncmode", "app.testing.fixtures"]
