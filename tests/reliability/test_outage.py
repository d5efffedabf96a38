"""The database goes away and comes back under a running server.

A private, throwaway PostgreSQL server (initdb + pg_ctl on its own port) is
stopped mid-test; the shared server is never touched.
"""

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live import free_port, live_server, register_and_login

PG_BINDIRS = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
POOL_TIMEOUT = 3
REQUESTS_WHILE_DOWN = 20


class PrivatePostgres:
    def __init__(self) -> None:
        if not PG_BINDIRS:
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.bindir = Path(PG_BINDIRS[-1])
        # Not under pytest's tmp_path: that is private to root, and the server runs as postgres.
        self.root = Path(tempfile.mkdtemp(prefix="private-pg-"))
        self.datadir = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"
        self.datadir.mkdir()
        if os.geteuid() == 0:
            # The server refuses to run as root; its files and socket belong to postgres.
            for path in (self.root, self.datadir):
                shutil.chown(path, "postgres", "postgres")
        self._run("initdb", "-D", str(self.datadir), "-A", "trust", "-U", "postgres")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60, cwd=self.root)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.datadir), "-o", options, "-l",
                  str(self.root / "server.log"), "-w", "start")

    def stop(self) -> None:
        # Immediate: connections die as in a crash, not a polite shutdown.
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()


def timed_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, float, dict]:
    t0 = time.monotonic()
    response = httpx.get(url, headers=headers, timeout=POOL_TIMEOUT * 4)
    return response.status_code, time.monotonic() - t0, response.json()


# Both drivers: each reports a dead connection its own way, and no ping on checkout
# finds it first (app/db/disconnects.py).
@pytest.mark.parametrize("driver", ["psycopg2", "asyncpg"])
def test_database_down_is_503_quickly_and_service_recovers_without_restart(
    private_postgres, tmp_path, driver
):
    url = private_postgres.url.replace("+psycopg2", f"+{driver}")
    with live_server(url, tmp_path / "server.log",
                     DB_POOL_TIMEOUT=str(POOL_TIMEOUT)) as server:
        headers = register_and_login(server.url, "survivor")
        teams = f"{server.url}/api/v1/teams"
        # Warm the pool so stale connections exist when the server dies.
        assert all(timed_get(teams, headers)[0] == 200 for _ in range(5))

        private_postgres.stop()
        down = [timed_get(teams, headers) for _ in range(REQUESTS_WHILE_DOWN)]
        ready_down = timed_get(f"{server.url}/health/ready")
        live_down = timed_get(f"{server.url}/health/live")

        private_postgres.start()
        back = [timed_get(teams, headers) for _ in range(REQUESTS_WHILE_DOWN)]
        ready_back = timed_get(f"{server.url}/health/ready")

        # A restart nobody noticed: every pooled connection is now stale.
        private_postgres.stop()
        private_postgres.start()
        after_blip = [timed_get(teams, headers) for _ in range(REQUESTS_WHILE_DOWN)]
        log = server.log()

    assert Counter(status for status, _, _ in down) == {503: REQUESTS_WHILE_DOWN}
    assert all(body == {"detail": "Database unavailable"} for _, _, body in down)
    assert max(elapsed for _, elapsed, _ in down) < POOL_TIMEOUT
    assert ready_down[0] == 503
    assert ready_down[2] == {"status": "unavailable", "database": "unreachable"}
    assert live_down[:1] == (200,) and live_down[2] == {"status": "ok"}
    # A stale pooled connection fails its first statement; that call is retried on a
    # fresh connection, and the client never sees it.
    assert Counter(status for status, _, _ in back) == {200: REQUESTS_WHILE_DOWN}
    assert ready_back[0] == 200
    assert Counter(status for status, _, _ in after_blip) == {200: REQUESTS_WHILE_DOWN}
    assert "Traceback" not in log
