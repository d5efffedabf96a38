"""Fixtures the reliability tests share."""

# A private PostgreSQL server (initdb + pg_ctl on its own port) to stop and hang.
from tests.reliability.test_outage import private_postgres  # noqa: F401
