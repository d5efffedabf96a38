"""The service through PgBouncer in transaction pooling mode, in the suite's mode.

Each test starts its own PgBouncer (Debian's package) on a free loopback port,
with its ini and userlist in a temporary folder, and stops it at the end. With
two server connections for many clients, consecutive transactions of one client
connection land on different server connections: what breaks asyncpg's named,
cached prepared statements unless DB_PGBOUNCER=true. Migrations run directly
against PostgreSQL (the migration lock is session-level; see the README).
"""

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import migrate
from app.db.engines import _through_pgbouncer
from app.testing.asyncmode import ASYNC_MODE
from app.testing.databases import fresh_database
from tests.live import free_port, live_server, register_and_login
from tests.reliability.test_hung_database import hung, in_parallel
from tests.reliability.test_outage import PrivatePostgres
from tests.reliability.test_races import all_at_once

PGBOUNCER = Path("/usr/sbin/pgbouncer")
CONTENDERS = 30
BOUNDS = {"DB_POOL_TIMEOUT": "3", "DB_CONNECT_TIMEOUT": "2", "DB_STATEMENT_TIMEOUT": "2",
          "DB_READY_TIMEOUT": "1"}


def _as_postgres(command: list[str]) -> list[str]:
    # PgBouncer refuses to run as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PgBouncer:
    """PgBouncer in transaction mode in front of host:port, trusting every user."""

    def __init__(self, host: str, port: int) -> None:
        if not PGBOUNCER.exists():
            pytest.skip("PgBouncer is not installed (Debian's pgbouncer; .ci/run installs it)")
        # Not under pytest's tmp_path: that is private to root, and PgBouncer runs as postgres.
        self.root = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        self.port = free_port()
        (self.root / "userlist.txt").write_text('"postgres" ""\n')
        (self.root / "pgbouncer.ini").write_text(f"""\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.root}/userlist.txt
pool_mode = transaction
default_pool_size = 2
max_client_conn = 500
server_login_retry = 1
logfile = {self.root}/pgbouncer.log
pidfile = {self.root}/pgbouncer.pid
""")
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            for path in self.root.iterdir():
                shutil.chown(path, "postgres", "postgres")

    def url(self, database_url: str) -> str:
        """`database_url` with PgBouncer's address instead of PostgreSQL's."""
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    def start(self) -> None:
        subprocess.run(_as_postgres([str(PGBOUNCER), "-d", str(self.root / "pgbouncer.ini")]),
                       check=True, capture_output=True, timeout=30)
        deadline = time.monotonic() + 30
        while not (self.root / "pgbouncer.pid").exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"PgBouncer did not start:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        path = self.root / "pgbouncer.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        pidfile = self.root / "pgbouncer.pid"
        if pidfile.exists():
            pid = int(pidfile.read_text())
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def postgres_database(tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database on the suite's PostgreSQL server (migrated directly)."""
    server = os.environ.get("TEST_DATABASE_URL", "")
    if not server.startswith("postgresql"):
        pytest.skip("PgBouncer tests need PostgreSQL: set TEST_DATABASE_URL to a postgresql URL")
    with fresh_database(tmp_path, "bounced") as url:
        migrate.upgrade(url)
        yield url


def wait_until_ready(url: str, attempts: int = 60) -> bool:
    for _ in range(attempts):
        if httpx.get(url, timeout=30).status_code == 200:
            return True
        time.sleep(1)
    return False


@pytest.fixture
def bouncer_for() -> Iterator[Callable[[str, int], PgBouncer]]:
    started: list[PgBouncer] = []

    def start(host: str, port: int) -> PgBouncer:
        bouncer = PgBouncer(host, port)
        started.append(bouncer)
        bouncer.start()
        return bouncer

    yield start
    for bouncer in started:
        bouncer.stop()


def _statements_through(url: str, connect_args: dict) -> Counter[str]:
    """40 concurrent connections of an asyncpg engine, 5 statements and commits each;
    "ok" or the error per connection. In a thread: the test may be on a running loop."""
    outcomes: Counter[str] = Counter()

    async def one(engine, n: int) -> None:
        try:
            async with engine.connect() as conn:
                for k in range(5):
                    await conn.execute(text(f"SELECT {k} + :n"), {"n": n})
                    await conn.commit()
            outcomes["ok"] += 1
        except DBAPIError as exc:
            outcomes[type(exc.orig).__name__] += 1

    async def crowd() -> None:
        engine = create_async_engine(url, connect_args=connect_args, pool_size=4)
        try:
            await asyncio.gather(*(one(engine, n) for n in range(40)))
        finally:
            await engine.dispose()

    thread = threading.Thread(target=asyncio.run, args=(crowd(),))
    thread.start()
    thread.join()
    return outcomes


def test_asyncpg_prepared_statements_through_pgbouncer(postgres_database, bouncer_for):
    target = make_url(postgres_database)
    bouncer = bouncer_for(target.host, target.port or 5432)
    url = make_url(bouncer.url(postgres_database)).set(drivername="postgresql+asyncpg")
    configured: dict = {}
    _through_pgbouncer(configured)  # what build_engine adds with DB_PGBOUNCER=true

    assert _statements_through(url.render_as_string(hide_password=False), configured) == {"ok": 40}
    # Without DB_PGBOUNCER's configuration, asyncpg's named statements go missing.
    assert _statements_through(url.render_as_string(hide_password=False), {})["ok"] < 40


def test_a_slice_of_the_api_through_pgbouncer(postgres_database, bouncer_for, tmp_path):
    target = make_url(postgres_database)
    bouncer = bouncer_for(target.host, target.port or 5432)
    with live_server(bouncer.url(postgres_database), tmp_path / "server.log",
                     AUTO_MIGRATE="false", DB_PGBOUNCER="true", DB_POOL_SIZE="4",
                     LOGIN_RATE_LIMIT_ENABLED="true") as server:
        api = f"{server.url}/api/v1"
        with httpx.Client(timeout=60) as client:
            assert client.get(f"{server.url}/health/ready").status_code == 200
            headers = register_and_login(server.url, "bounced")
            assert client.get(f"{api}/users/me", headers=headers).json()["username"] == "bounced"
            wrong = client.post(f"{api}/auth/token",
                                data={"username": "bounced", "password": "wrong password"})
            assert wrong.status_code == 401

            team = client.post(f"{api}/teams", headers=headers,
                               json={"name": "Bouncers", "headquarters": "Door"})
            assert team.status_code == 201
            team_id = team.json()["id"]
            created = [client.post(f"{api}/heroes", headers=headers,
                                   json={"name": f"Hero {n}", "secret_name": f"S{n}",
                                         "team_id": team_id}).status_code for n in range(12)]
            assert created == [201] * 12

            seen, url = [], f"{api}/heroes?limit=5"
            while url:
                page = client.get(url, headers=headers)
                assert page.status_code == 200
                seen += [hero["name"] for hero in page.json()]
                # Link is a relative reference: resolved against the page's own URL.
                following = page.links.get("next", {}).get("url")
                url = str(page.url.join(following)) if following else None
            assert sorted(seen) == sorted(f"Hero {n}" for n in range(12))

            hero_id = client.get(f"{api}/heroes?limit=1", headers=headers).json()[0]["id"]
            patched = client.patch(f"{api}/heroes/{hero_id}", headers=headers, json={"age": 41})
            assert patched.status_code == 200 and patched.json()["age"] == 41
            assert client.delete(f"{api}/heroes/{hero_id}", headers=headers).status_code == 204
            assert client.get(f"{api}/heroes/{hero_id}", headers=headers).status_code == 404

            item = client.post(f"{api}/items", headers=headers, json={"title": "Rope"})
            assert item.status_code == 201
            assert client.get(f"{api}/items", headers=headers).json()[0]["title"] == "Rope"

        def register(n: int, client: httpx.Client) -> httpx.Response:
            return client.post(f"{api}/users", json={"username": f"racer{n}",
                               "email": "racer@example.com", "password": "a long password"})

        def create_team(n: int, client: httpx.Client) -> httpx.Response:
            return client.post(f"{api}/teams", headers=headers,
                               json={"name": "Contested", "headquarters": f"HQ {n}"})

        def read_me(n: int, client: httpx.Client) -> httpx.Response:
            return client.get(f"{api}/users/me", headers=headers)

        registrations = all_at_once(CONTENDERS, register)
        teams = all_at_once(CONTENDERS, create_team)
        reads = all_at_once(CONTENDERS, read_me)
        log = server.log()

    assert registrations == {201: 1, 409: CONTENDERS - 1}, registrations
    assert teams == {201: 1, 409: CONTENDERS - 1}, teams
    assert reads == {200: CONTENDERS}, reads
    assert "Traceback" not in log, log


def test_hung_database_behind_pgbouncer_is_503_and_recovers(bouncer_for, tmp_path):
    # A private server behind PgBouncer: the shared one is never stopped.
    private = PrivatePostgres()
    try:
        private.start()
        bouncer = bouncer_for("127.0.0.1", private.port)
        url = bouncer.url(private.url)
        if ASYNC_MODE:
            url = url.replace("postgresql+psycopg2", "postgresql+asyncpg")
        with live_server(url, tmp_path / "server.log", DB_PGBOUNCER="true", **BOUNDS) as server:
            headers = register_and_login(server.url, "patient")
            me = f"{server.url}/api/v1/users/me"
            ready = f"{server.url}/health/ready"
            assert in_parallel([(me, headers)] * 5 + [(ready, None)]) == [200] * 6

            with hung(private):
                during = in_parallel([(me, headers)] * 10 + [(ready, None)] * 2)

            # PgBouncer itself waits server_login_retry before reconnecting to a
            # server that failed it; the service is ready again once PgBouncer is.
            waited_for_ready = wait_until_ready(ready)
            after = in_parallel([(me, headers)] * 10 + [(ready, None)] * 2)
            log = server.log() + bouncer.log()
    finally:
        private.remove()

    assert Counter(during) == {503: 12}, during
    assert waited_for_ready, log[-4000:]
    assert Counter(after) == {200: 12}, after
    assert "Traceback" not in log, log
