"""PostgreSQL faults under a live server, and what each one gives the client (issue 17).

Each fault is made on a private PostgreSQL server (tests/reliability/test_outage.py),
against a server of the app in a subprocess, and is answered over one keep-alive HTTP
connection per client: a database failure must be a 503 on a connection that then
carries the client's next request (a 500 makes uvicorn drop it).

The tests (test_database_faults.py) drive it; it also measures any checkout of the code,
for the issue's before/after table:

    python -m tests.reliability.faults --app-dir /tmp/before --driver asyncpg
"""

import argparse
import http.client
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2  # type: ignore[import-untyped]

from tests.live import ROOT, TEST_SECRET_KEY, free_port
from tests.reliability.test_outage import PrivatePostgres

STATEMENT_TIMEOUT = 2
SERVER_SETTINGS = {
    "DB_STATEMENT_TIMEOUT": str(STATEMENT_TIMEOUT),
    "DB_POOL_TIMEOUT": "3",
    "DB_CONNECT_TIMEOUT": "3",
    "DB_READY_TIMEOUT": "1",
    "DB_POOL_SIZE": "3",
    "DB_MAX_OVERFLOW": "2",
    "FIRST_SUPERUSER_USERNAME": "boss",
    "FIRST_SUPERUSER_EMAIL": "boss@example.com",
    "FIRST_SUPERUSER_PASSWORD": "a long password",
}
# Room for the app's pools and the test's own connections, little beyond.
MAX_CONNECTIONS = 30
DROPPED = "dropped"  # the keep-alive connection did not carry the next request


def team(name: str) -> dict[str, str]:
    return {"name": name, "headquarters": "HQ"}


class Client:
    """One keep-alive HTTP/1.1 connection; never silently reopened."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.conn.connect()
        self.conn.auto_open = 0  # a closed connection raises instead of reconnecting
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.dropped = False

    def send(self, method: str, path: str, body: Any = None) -> tuple[int | str, Any]:
        if self.dropped:
            return DROPPED, None
        headers = dict(self.headers)
        payload = None
        if body is not None:
            payload = json.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=payload, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (http.client.HTTPException, OSError):
            self.dropped = True
            return DROPPED, None
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = data.decode(errors="replace")
        return response.status, parsed

    def close(self) -> None:
        self.conn.close()


@dataclass
class Outcome:
    """What the clients got while the fault lasted, and right after it on the same
    connections."""

    during: list[int | str] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)
    after: list[int | str] = field(default_factory=list)

    def row(self) -> str:
        def counted(statuses: list[int | str]) -> str:
            return ", ".join(f"{k}×{v}" for k, v in sorted(Counter(statuses).items(), key=str))

        return f"{len(self.during)} sent: {counted(self.during)}; next on same connection: " \
            f"{counted(self.after)}"


class Service:
    """The app, from `app_dir`, served by uvicorn on its own port."""

    def __init__(self, database_url: str, log_path: Path, app_dir: Path = ROOT,
                 **settings: str) -> None:
        self.port = free_port()
        self.log_path = log_path
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": "/tmp",
            "DATABASE_URL": database_url,
            "SECRET_KEY": TEST_SECRET_KEY,
            "BCRYPT_ROUNDS": "4",
            "AUTO_MIGRATE": "true",
            "LOGIN_RATE_LIMIT_ENABLED": "false",
            "PYTHONPATH": str(app_dir),
            **SERVER_SETTINGS,
            **settings,
        }
        self._log = open(log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
             "--port", str(self.port)],
            cwd=app_dir, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log()}")
            try:
                if Client(self.port).send("GET", "/health/live")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(self.log())

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def token(self, username: str) -> str:
        client = Client(self.port)
        client.send("POST", "/api/v1/users", {
            "username": username, "email": f"{username}@example.com",
            "password": "a long password",
        })
        client.conn.request(
            "POST", "/api/v1/auth/token",
            body=f"username={username}&password=a+long+password",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        response = client.conn.getresponse()
        body = json.loads(response.read())
        client.close()
        return str(body["access_token"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class Faults:
    """The faults, each made, answered, and undone, on `pg` under `service`."""

    def __init__(self, pg: PrivatePostgres, service: Service) -> None:
        self.pg = pg
        self.service = service
        self.user = service.token("faulty")
        self.boss = service.token("boss")
        self.dsn = f"host=127.0.0.1 port={pg.port} user=postgres dbname=postgres"
        me = Client(service.port, self.user).send("GET", "/api/v1/users/me")[1]
        self.me = f"/api/v1/users/{me['id']}"

    def admin(self, autocommit: bool = True) -> Any:
        # Its own sessions write even while the database is made read-only.
        conn = psycopg2.connect(self.dsn, application_name="fault-maker",
                                options="-c default_transaction_read_only=off")
        conn.autocommit = autocommit
        return conn

    def sql(self, statement: str, *args: Any) -> list[tuple[Any, ...]]:
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute(statement, args)
            rows = cur.fetchall() if cur.description else []
        conn.close()
        return rows

    def drop_app_connections(self) -> None:
        self.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
                 "AND application_name <> 'fault-maker'")

    def client(self, token: str | None = None) -> Client:
        return Client(self.service.port, self.user if token is None else token)

    def one(self, request: tuple[str, str, Any], *, token: str | None = None,
            fault: Callable[[], Any] | None = None) -> Outcome:
        """One request under the fault, then a plain read on the same connection."""
        client = self.client(token)
        assert client.send("GET", "/api/v1/teams")[0] == 200  # connected, pooled, warm
        status, body = client.send(*request)
        outcome = Outcome([status], [body])
        if fault is not None:
            fault()
        outcome.after.append(client.send("GET", "/api/v1/teams")[0])
        client.close()
        return outcome

    @contextmanager
    def row_locked(self) -> Iterator[Any]:
        holder = self.admin(autocommit=False)
        with holder.cursor() as cur:
            cur.execute("SELECT 1 FROM users WHERE username = 'faulty' FOR UPDATE")
        try:
            yield holder
        finally:
            holder.rollback()
            holder.close()

    # --- the faults -------------------------------------------------------------------

    def statement_timeout(self) -> Outcome:
        """A write waits on a row another transaction holds FOR UPDATE, past the timeout."""
        with self.row_locked():
            return self.one(("PATCH", self.me, {"full_name": "Slow"}))

    def terminated(self) -> Outcome:
        """pg_terminate_backend on the connection of a request waiting for a lock."""
        with self.row_locked():
            client = self.client()
            assert client.send("GET", "/api/v1/teams")[0] == 200
            got: list[tuple[int | str, Any]] = []
            waiter = threading.Thread(target=lambda: got.append(
                client.send("PATCH", self.me, {"full_name": "Cut"})))
            waiter.start()
            deadline = time.monotonic() + STATEMENT_TIMEOUT
            while time.monotonic() < deadline:
                waiting = self.sql("SELECT pid FROM pg_stat_activity WHERE wait_event_type = "
                                   "'Lock' AND application_name <> 'fault-maker'")
                if waiting:
                    self.sql("SELECT pg_terminate_backend(%s)", waiting[0][0])
                    break
                time.sleep(0.02)
            waiter.join()
        outcome = Outcome([got[0][0]], [got[0][1]])
        outcome.after.append(client.send("GET", "/api/v1/teams")[0])
        client.close()
        return outcome

    def analytics_locked(self) -> Outcome:
        """The summary reads a table another transaction holds ACCESS EXCLUSIVE."""
        holder = self.admin(autocommit=False)
        with holder.cursor() as cur:
            cur.execute("LOCK TABLE heroes IN ACCESS EXCLUSIVE MODE")
        try:
            return self.one(("GET", "/api/v1/analytics/summary", None), token=self.boss)
        finally:
            holder.rollback()
            holder.close()

    def raised(self, sqlstate: str) -> Outcome:
        """The server refuses a write with `sqlstate` (a trigger raises it: a disk that
        fills, memory that runs out, ... on cue)."""
        self.sql(
            "CREATE OR REPLACE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION 'refused on cue' USING ERRCODE = '{sqlstate}'; END $$")
        self.sql("CREATE TRIGGER refuse BEFORE INSERT ON teams "
                 "FOR EACH ROW EXECUTE FUNCTION refuse()")
        try:
            return self.one(("POST", "/api/v1/teams", team(f"Refused {sqlstate}")))
        finally:
            self.sql("DROP TRIGGER refuse ON teams")

    def read_only(self) -> Outcome:
        """default_transaction_read_only=on, as on a standby or during maintenance."""
        self.sql("ALTER DATABASE postgres SET default_transaction_read_only = on")
        self.drop_app_connections()
        try:
            client = self.client()
            outcome = Outcome()
            # The first request finds its pooled connection terminated: a rerun.
            for n in range(3):
                status, body = client.send("POST", "/api/v1/teams", team(f"Frozen {n}"))
                outcome.during.append(status)
                outcome.bodies.append(body)
            outcome.after.append(client.send("GET", "/api/v1/teams")[0])
            client.close()
            return outcome
        finally:
            self.sql("ALTER DATABASE postgres RESET default_transaction_read_only")
            self.drop_app_connections()

    def connections_exhausted(self) -> Outcome:
        """Every connection slot taken by others: the app's new connections are refused."""
        self.drop_app_connections()
        hogs = []
        try:
            while True:
                hogs.append(self.admin())
        except psycopg2.OperationalError:
            pass
        try:
            outcome = Outcome()
            client = self.client()
            for n in range(4):
                status, body = client.send("POST", "/api/v1/teams", team(f"Crowded {n}"))
                outcome.during.append(status)
                outcome.bodies.append(body)
            for hog in hogs:
                hog.close()
            hogs = []
            outcome.after.append(client.send("GET", "/api/v1/teams")[0])
            client.close()
            return outcome
        finally:
            for hog in hogs:
                hog.close()

    def smart_shutdown(self) -> Outcome:
        """`pg_ctl stop -m smart` waiting on a session: new connections are refused with
        "the database system is shutting down" until it ends."""
        holder = self.admin()
        self.drop_app_connections()
        self.pg._run("pg_ctl", "-D", str(self.pg.datadir), "-m", "smart", "-W", "stop")
        time.sleep(0.5)
        outcome = Outcome()
        client = self.client()
        for n in range(4):
            status, body = client.send("POST", "/api/v1/teams", team(f"Closing {n}"))
            outcome.during.append(status)
            outcome.bodies.append(body)
        holder.close()
        self._wait_stopped()
        self.pg.start()
        outcome.after.append(client.send("GET", "/api/v1/teams")[0])
        client.close()
        return outcome

    def _wait_stopped(self) -> None:
        pid_file = self.pg.datadir / "postmaster.pid"
        deadline = time.monotonic() + 30
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    def restart_during_burst(self, clients: int = 4, seconds: float = 6) -> Outcome:
        """`pg_ctl restart -m fast` while clients read and write as fast as they can."""
        outcome = Outcome()
        stop = threading.Event()
        lock = threading.Lock()

        def burst(n: int) -> None:
            client = self.client()
            k = 0
            while not stop.is_set():
                k += 1
                request = (("POST", "/api/v1/teams", team(f"Burst {n}-{k}")) if k % 2
                           else ("GET", "/api/v1/teams", None))
                status, body = client.send(*request)
                with lock:
                    outcome.during.append(status)
                    if status not in (200, 201):
                        outcome.bodies.append(body)
                if status == DROPPED:
                    return
            outcome.after.append(client.send("GET", "/api/v1/teams")[0])
            client.close()

        threads = [threading.Thread(target=burst, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        time.sleep(1)
        options = f"-p {self.pg.port} -k {self.pg.root} -c listen_addresses=127.0.0.1"
        self.pg._run("pg_ctl", "-D", str(self.pg.datadir), "-o", options, "-m", "fast",
                     "-l", str(self.pg.root / "server.log"), "-w", "restart")
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join()
        return outcome


@contextmanager
def faulty_setup(driver: str, log_path: Path, app_dir: Path = ROOT) -> Iterator[Faults]:
    pg = PrivatePostgres()
    with open(pg.datadir / "postgresql.conf", "a") as conf:
        conf.write(f"\nmax_connections = {MAX_CONNECTIONS}\n")
    try:
        pg.start()
        service = Service(pg.url.replace("+psycopg2", f"+{driver}"), log_path, app_dir)
        try:
            yield Faults(pg, service)
        finally:
            service.stop()
    finally:
        pg.remove()


SCENARIOS: dict[str, Callable[[Faults], Outcome]] = {
    "statement timeout (row FOR UPDATE)": Faults.statement_timeout,
    "pg_terminate_backend (request's conn)": Faults.terminated,
    "analytics behind ACCESS EXCLUSIVE": Faults.analytics_locked,
    "disk full (53100, raised)": lambda f: f.raised("53100"),
    "out of memory (53200, raised)": lambda f: f.raised("53200"),
    "I/O error (58030, raised)": lambda f: f.raised("58030"),
    "read-only database": Faults.read_only,
    "max_connections exhausted": Faults.connections_exhausted,
    "smart shutdown in progress": Faults.smart_shutdown,
    "restart -m fast during a burst": Faults.restart_during_burst,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app-dir", type=Path, default=ROOT)
    parser.add_argument("--driver", choices=["psycopg2", "asyncpg"], default="psycopg2")
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    log = Path(f"/tmp/faults-{args.driver}-{args.app_dir.name}.log")
    with faulty_setup(args.driver, log, args.app_dir) as faults:
        for name, scenario in SCENARIOS.items():
            if args.only and not any(word in name for word in args.only):
                continue
            try:
                outcome = scenario(faults)
                print(f"| {args.driver} | {name} | {outcome.row()} |", flush=True)
                details = {str(b)[:100] for b in outcome.bodies if b}
                if details:
                    print(f"|   | bodies | {sorted(details)} |", flush=True)
            except Exception as exc:  # noqa: BLE001 - a measuring script reports and goes on
                print(f"| {args.driver} | {name} | probe failed: {exc!r} |", flush=True)
        tracebacks = faults.service.log().count("Traceback")
        print(f"| {args.driver} | server log | {tracebacks} tracebacks ({log}) |")


if __name__ == "__main__":
    main()
