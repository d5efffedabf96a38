"""`python -m app serve --workers 2` keeps the service up (app/serve.py).

- A worker killed while the database is down is replaced once it is back; meanwhile the
  surviving worker answers readiness with 503, and nobody restarts anything.
- A service that cannot start (a bad path) exits non-zero, its reason the last line.
- `kill -9` of the supervisor leaves no worker behind and the port free.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.live import ROOT, TEST_SECRET_KEY, LiveServer, free_port, live_server

WORKERS = ["--workers", "2"]


def children(pid: int) -> list[int]:
    pids: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return pids


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def wait_for(condition: Callable[[], bool], timeout: float, what: str,
             server: LiveServer | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not {what} after {timeout}s" + (f":\n{server.log()}" if server else ""))


def status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.TransportError:
        return None


def serving_workers(server: LiveServer) -> list[int]:
    """The supervisor's workers, python processes that hold a TCP socket."""
    return [pid for pid in children(server.process.pid) if alive(pid)
            and "multiprocessing.spawn" in Path(f"/proc/{pid}/cmdline").read_text()]


@pytest.mark.once
def test_a_worker_killed_while_the_database_is_down_is_replaced_once_it_is_back(
    private_postgres, tmp_path
):
    with live_server(private_postgres.url, tmp_path / "server.log", serve_args=WORKERS,
                     DB_POOL_TIMEOUT="2", DB_CONNECT_TIMEOUT="2") as server:
        ready = f"{server.url}/health/ready"
        # One worker answering is not both: a second one still starting when the
        # database stops fails its start-up, and the counts below would be off by one.
        wait_for(lambda: status(ready) == 200
                 and server.log().count("Application startup complete") == 2,
                 60, "ready, both workers started", server)
        workers = serving_workers(server)
        assert len(workers) == 2, server.log()

        private_postgres.stop()
        os.kill(workers[0], signal.SIGKILL)
        # The replacement cannot start; its start-up failure must not stop the service.
        wait_for(lambda: "could not start: database unreachable" in server.log(), 60,
                 "told that the replacement could not start", server)
        while_down = Counter(status(ready) for _ in range(10))

        private_postgres.start()
        wait_for(lambda: len(serving_workers(server)) == 2
                 and server.log().count("Application startup complete") >= 3,
                 90, "back to two serving workers", server)
        back = Counter(status(ready) for _ in range(10))
        log = server.log()
        assert server.process.poll() is None, log

    assert while_down == {503: 10}, log
    assert back == {200: 10}, log
    assert "Traceback" not in log


def run_serve(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "DEBUG"}
    env.update(SECRET_KEY=TEST_SECRET_KEY, BCRYPT_ROUNDS="4", AUTO_MIGRATE="true", **settings)
    return subprocess.run(
        [sys.executable, "-m", "app", "serve", *WORKERS, "--port", str(free_port())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.once
def test_a_service_that_cannot_start_exits_non_zero_with_the_reason_last(tmp_path):
    missing = tmp_path / "missing" / "app.db"
    result = run_serve(tmp_path, DATABASE_URL=f"sqlite:///{missing}")

    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"error: start-up failed: No such file or directory: {missing}.migrate.lock; its "
        "folder must exist and be writable (for SQLite, the folder in DATABASE_URL)"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.once
def test_kill_9_of_the_supervisor_leaves_no_worker_and_frees_the_port(tmp_path):
    with live_server(f"sqlite:///{tmp_path / 'app.db'}", tmp_path / "server.log",
                     serve_args=WORKERS) as server:
        wait_for(lambda: len(serving_workers(server)) == 2, 60, "two workers", server)
        workers = serving_workers(server)
        assert status(f"{server.url}/health/live") == 200
        server.process.kill()
        server.process.wait()
        wait_for(lambda: not any(alive(pid) for pid in workers), 30, "workers gone", server)

        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", server.port))  # raises while a worker holds it
        assert status(f"{server.url}/health/live") is None


class _DriverError(Exception):
    def __init__(self, message: str, pgcode: str | None = None,
                 sqlite_errorcode: int | None = None) -> None:
        super().__init__(message)
        self.pgcode = pgcode
        if sqlite_errorcode is not None:
            self.sqlite_errorcode = sqlite_errorcode


def _db_error(**orig: object) -> Exception:
    from sqlalchemy import exc as sa_exc

    return sa_exc.OperationalError("SELECT 1", {}, _DriverError("no", **orig))  # type: ignore[arg-type]


@pytest.mark.parametrize(("case", "waits"), [
    ("too many connections (53300)", True),
    ("the database is starting up (57P03)", True),
    ("connection refused (no SQLSTATE)", True),
    ("read-only transaction (25006)", True),
    ("SQLite busy", True),
    ("SQLite cannot open the file", False),
    ("database does not exist (3D000)", False),
    ("a bad setting", False),
])
def test_which_start_up_failures_the_supervisor_waits_out(case, waits):
    """A worker exits EX_TEMPFAIL (replaced after a backoff) for an outage, and stops the
    service for anything else (app/main.py `StartUpFailure`)."""
    from app.core.config import BadSetting
    from app.main import StartUpFailure

    errors = {
        "too many connections (53300)": _db_error(pgcode="53300"),
        "the database is starting up (57P03)": _db_error(pgcode="57P03"),
        "connection refused (no SQLSTATE)": _db_error(),
        "read-only transaction (25006)": _db_error(pgcode="25006"),
        "SQLite busy": _db_error(sqlite_errorcode=5),
        "SQLite cannot open the file": _db_error(sqlite_errorcode=14),
        "database does not exist (3D000)": _db_error(pgcode="3D000"),
        "a bad setting": BadSetting("DB_POOL_SIZE", "must be 1 or more"),
    }
    try:
        raise RuntimeError("start-up") from errors[case]
    except RuntimeError as wrapped:
        assert StartUpFailure.of(wrapped).waits is waits
    assert StartUpFailure.of(errors[case]).waits is waits
