"""The database hangs (SIGSTOP: it accepts connections and never answers), then resumes.

Unlike a stopped server, a hung one refuses nothing: the kernel completes TCP
handshakes and acknowledges every byte, so only client-side bounds end the wait
(app/db/timeouts.py). Requests must get 503 within the pool, connect and
statement timeouts, readiness within its own bound, and the same process must
serve again once the server resumes. A private PostgreSQL server is used; the
shared one is never touched.
"""

import os
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from app.testing.asyncmode import ASYNC_MODE
from tests.live import live_server, register_and_login
from tests.reliability.test_outage import PrivatePostgres

TIMEOUTS = {
    "DB_POOL_TIMEOUT": "3",
    "DB_CONNECT_TIMEOUT": "2",
    "DB_STATEMENT_TIMEOUT": "2",
    "DB_READY_TIMEOUT": "1",
}
# Comfortably more than pool + ping + reconnect + close; a request still waiting
# then is a request that would wait forever.
CLIENT_TIMEOUT = 45
CROWD = 12


def server_processes(datadir: Path) -> list[int]:
    """The postmaster and every process it started."""
    postmaster = int((datadir / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True)
    return [postmaster, *(int(pid) for pid in children.stdout.split())]


@contextmanager
def hung(server: PrivatePostgres) -> Iterator[None]:
    pids = server_processes(server.datadir)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in reversed(pids):
            os.kill(pid, signal.SIGCONT)


def in_parallel(requests: list[tuple[str, dict[str, str] | None]]) -> list[int | str]:
    """Send every (url, headers) at once; a status code each, or the transport error's name."""
    results: list[int | str] = ["not sent"] * len(requests)

    def one(n: int, url: str, headers: dict[str, str] | None) -> None:
        try:
            results[n] = httpx.get(url, headers=headers, timeout=CLIENT_TIMEOUT).status_code
        except httpx.TransportError as exc:
            results[n] = type(exc).__name__

    threads = [threading.Thread(target=one, args=(n, *r)) for n, r in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_hung_database_is_503_within_bounds_and_service_recovers(private_postgres, tmp_path):
    url = private_postgres.url
    if ASYNC_MODE:
        url = url.replace("postgresql+psycopg2", "postgresql+asyncpg")
    with live_server(url, tmp_path / "server.log", **TIMEOUTS) as server:
        headers = register_and_login(server.url, "patient")
        me = f"{server.url}/api/v1/users/me"
        ready = f"{server.url}/health/ready"
        # Pooled connections exist when the server hangs, so pings are what hang first.
        assert in_parallel([(me, headers)] * 5) == [200] * 5

        with hung(private_postgres):
            during = in_parallel([(me, headers)] * CROWD + [(ready, None)] * 3)
            live = httpx.get(f"{server.url}/health/live", timeout=CLIENT_TIMEOUT).status_code

        after = in_parallel([(me, headers)] * CROWD + [(ready, None)] * 3)
        log = server.log()

    assert Counter(during) == {503: CROWD + 3}, during
    assert live == 200
    assert Counter(after) == {200: CROWD + 3}, after
    assert "Traceback" not in log
