"""A pytest plugin: the fixtures and factories the service's own tests use, for any suite.

Installed with the package (`pip install -e .`), it is registered through the
`pytest11` entry point and loads by itself; from a checkout that is not installed,
adopt it in a conftest (or run `pytest -p app.testing`):

    pytest_plugins = ["app.testing"]

Write tests with `db`, `client`, `user_headers`, ... (app/testing/fixtures.py) and
`from app.testing.factories import UserFactory, TeamFactory, HeroFactory, ItemFactory`.
Each run gets a fresh, migrated database (a SQLite file, or a new database on the
PostgreSQL server TEST_DATABASE_URL names, dropped at the end); each test runs in a
transaction that is rolled back, and the app under test serves from it through its
production `get_db` and units of work. An async driver in TEST_DATABASE_URL runs the
tests in async mode (app/testing/asyncmode.py).

Loading the plugin changes nothing outside the tests: it reads TEST_DATABASE_URL,
and writes only into pytest's temporary folders and the databases it creates. Only
test suites import this package, so it may import the development dependencies
(pytest, factory-boy, httpx: requirements-dev.txt), which the service never needs.
"""

TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256"

pytest_plugins = ["app.testing.asyncmode", "app.testing.fixtures"]
