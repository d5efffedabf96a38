"""Several instances starting at once on an empty database migrate it exactly once."""

import time

import httpx
from sqlalchemy.engine import make_url

from app.db.migrate import migration_lock
from app.testing.databases import fresh_database
from tests.live import LiveServer

INSTANCES = 3


def _serving(server: LiveServer) -> bool:
    try:
        return httpx.get(f"{server.url}/health/live", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_three_instances_started_together_migrate_once_and_all_serve(tmp_path):
    with fresh_database(tmp_path, "startup") as url:
        # Holding the lock lines all three up behind it, so they race for real on release.
        with migration_lock(make_url(url)):
            servers = [LiveServer(url, tmp_path / f"server{n}.log",
                                  FIRST_SUPERUSER_USERNAME="root",
                                  FIRST_SUPERUSER_EMAIL="root@example.com",
                                  FIRST_SUPERUSER_PASSWORD="a long password")
                       for n in range(INSTANCES)]
            time.sleep(3)
            serving_while_locked = [_serving(s) for s in servers]
        try:
            for server in servers:
                server.wait_ready()
            ready = [httpx.get(f"{s.url}/health/ready", timeout=10).status_code for s in servers]
            logins = [httpx.post(f"{s.url}/api/v1/auth/token", timeout=10,
                                 data={"username": "root", "password": "a long password"})
                      for s in servers]
        finally:
            for server in servers:
                server.stop()
        logs = [s.log() for s in servers]

    assert serving_while_locked == [False] * INSTANCES
    assert ready == [200] * INSTANCES
    migrated = [log for log in logs if "migrated from empty to" in log]
    already = [log for log in logs if "schema already at" in log]
    assert (len(migrated), len(already)) == (1, INSTANCES - 1), "\n---\n".join(logs)
    assert [r.status_code for r in logins] == [200] * INSTANCES
    assert not any("Traceback" in log for log in logs), "\n---\n".join(logs)
