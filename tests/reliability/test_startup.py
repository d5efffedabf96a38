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


def test_a_start_up_that_another_instance_wrote_under_runs_its_step_again(tmp_path, monkeypatch):
    # The race behind the three-instance test, made to happen every time: this start-up
    # reads (no superuser yet), another instance commits a write, this one then writes.
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from app import startup
    from app.core.config import Settings
    from app.db import migrate
    from app.models import User

    url = f"sqlite:///{tmp_path}/shared.db"
    migrate.upgrade(url)
    other = create_engine(url)
    with other.begin() as conn:
        conn.execute(text("CREATE TABLE other_instance (n INTEGER)"))
    real = startup.ensure_first_superuser
    calls = []

    def after_another_instance_wrote(db, *, settings):
        calls.append(db)
        if len(calls) == 1:
            db.execute(text("SELECT count(*) FROM users"))  # this start-up's snapshot
            with other.begin() as conn:
                conn.execute(text("INSERT INTO other_instance VALUES (1)"))
        return real(db, settings=settings)

    monkeypatch.setattr(startup, "ensure_first_superuser", after_another_instance_wrote)
    startup.start_up(Settings(
        database_url=url, secret_key="s" * 40, auto_migrate=False, bcrypt_rounds=4,
        first_superuser_username="root", first_superuser_email="root@example.com",
        first_superuser_password="a long password",
    ))

    assert len(calls) == 2
    with Session(other) as db:
        assert [u.username for u in db.query(User).filter(User.is_superuser)] == ["root"]
    other.dispose()
