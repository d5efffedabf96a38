"""A deploy that drops nothing: two instances on one PostgreSQL behind HAProxy.

Under steady reads and writes through HAProxy (tests/reliability/load.py):
1. each instance in turn gets SIGTERM and is started again, once HAProxy's health check
   on /health/ready has seen the other one up;
2. an expand migration (a new nullable column, tests/reliability/expand.py) runs while
   the instances, this code, one revision behind it now, keep serving.
No request fails, and every write the service acknowledged is in the database afterwards.
(The previous release's whole suite on the newer schema: test_the_previous_release_*.)

HAProxy (Debian's package) is what the docs' deploy recipe uses (docs/operations.md,
"Deploys"): it retries a request whose connection was refused or closed unanswered on
the other server (`retry-on conn-failure empty-response`, `option redispatch`); a server
that stops listening is such a case, a request it accepted is drained, never dropped.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app.db.drivers import sync_url
from app.testing.databases import create_postgres_database, drop_postgres_database
from tests.live import ROOT, LiveServer, free_port, register_and_login
from tests.reliability.expand import migrate_one_ahead
from tests.reliability.load import Load

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
SERVE_ARGS = ["--workers", "1", "--drain", "2"]
SETTLE = 3  # seconds of steady load between steps

CONFIG = """
global
    stats socket {socket} mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
frontend api
    bind 127.0.0.1:{port}
    default_backend instances
backend instances
    balance roundrobin
    option httpchk GET /health/ready
    http-check expect status 200
    default-server inter 300ms fall 2 rise 2
    server a 127.0.0.1:{a} check
    server b 127.0.0.1:{b} check
"""


class HAProxy:
    def __init__(self, folder: Path, backends: dict[str, int]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.socket = folder / "haproxy.sock"
        config = folder / "haproxy.cfg"
        config.write_text(CONFIG.format(socket=self.socket, port=self.port, **backends))
        self.log = folder / "haproxy.log"
        self._log = open(self.log, "w")
        self.process = subprocess.Popen([HAPROXY, "-db", "-f", str(config)],
                                        stdout=self._log, stderr=subprocess.STDOUT)

    def states(self) -> dict[str, str]:
        """Each server's state as HAProxy's health check sees it (UP, DOWN, ...)."""
        try:
            with socket.socket(socket.AF_UNIX) as conn:
                conn.settimeout(5)
                conn.connect(str(self.socket))
                conn.sendall(b"show stat\n")
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
        except OSError:
            return {}
        rows = [line.split(",") for line in data.decode().splitlines() if line and line[0] != "#"]
        return {row[1]: row[17] for row in rows if row[0] == "instances" and len(row) > 17}

    def wait_for(self, server: str, state: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.states().get(server, "").startswith(state):
                return
            time.sleep(0.1)
        raise AssertionError(f"HAProxy: {server} not {state} after {timeout}s: {self.states()}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)
        self._log.close()


@contextmanager
def fresh_postgres() -> Iterator[str]:
    url = create_postgres_database(os.environ["TEST_DATABASE_URL"])
    try:
        yield url
    finally:
        drop_postgres_database(url)


def stored_ids(url: str, ids: list[int]) -> set[int]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id FROM items WHERE id = ANY(:ids)"), {"ids": ids})
            return {row.id for row in rows}
    finally:
        engine.dispose()


@pytest.mark.once
def test_rolling_restart_and_expand_migration_under_load_drop_nothing(tmp_path):
    if not os.path.exists(HAPROXY):
        pytest.skip("HAProxy is not installed (apt-get install haproxy; .ci/run does)")
    with ExitStack() as stack:
        url = stack.enter_context(fresh_postgres())
        ports = {"a": free_port(), "b": free_port()}
        instances: dict[str, LiveServer] = {}

        def start(name: str, generation: int) -> None:
            server = LiveServer(url, tmp_path / f"{name}{generation}.log", port=ports[name],
                                serve_args=SERVE_ARGS)
            instances[name] = server
            server.wait_ready()

        def stop_all() -> None:
            for server in instances.values():
                server.stop()

        start("a", 0)  # migrates the empty database; then the other starts on it
        start("b", 0)
        stack.callback(stop_all)
        proxy = HAProxy(tmp_path, ports)
        stack.callback(proxy.stop)
        proxy.wait_for("a", "UP")
        proxy.wait_for("b", "UP")
        headers = register_and_login(proxy.url, "deployer")

        load = stack.enter_context(Load(proxy.url, headers, deadline=300))
        time.sleep(SETTLE)
        for generation, name in enumerate(["a", "b"], start=1):
            instances[name].stop()  # SIGTERM: stop listening, drain, exit
            assert instances[name].process.returncode == 0, instances[name].log()
            start(name, generation)
            proxy.wait_for(name, "UP")
            time.sleep(SETTLE)
        migrate_one_ahead(url, tmp_path)  # expand, while this code (now N-1) serves
        time.sleep(SETTLE)
        outcome = load.stop()
        present = stored_ids(url, outcome.acknowledged)
        logs = "".join(path.read_text() for path in sorted(tmp_path.glob("[ab][0-9].log")))

    assert outcome.failures == [], outcome.failures[:10]
    assert outcome.requests > 200 and set(outcome.statuses) == {"200", "201"}, outcome.statuses
    assert present == set(outcome.acknowledged)
    assert "Traceback" not in logs
    print(f"\nrolling restart + expand: {outcome.requests} requests {dict(outcome.statuses)}, "
          f"{len(outcome.acknowledged)} acknowledged writes, all present")


@pytest.mark.once
def test_the_previous_release_suite_passes_on_a_schema_one_expand_ahead():
    """N-1 on N: this code's item and user tests, on databases one expand revision past
    this code's head (tests/reliability/on_newer_schema.py)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.reliability.on_newer_schema",
         "-p", "no:cacheprovider", "tests/api/test_items.py", "tests/api/test_users.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.splitlines()[-1] and "failed" not in result.stdout
