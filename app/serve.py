"""`python -m app serve`: uvicorn as production should run it, supervised, fast with any
worker count.

Supervision. Workers are uvicorn servers in processes of their own, watched by a small
subclass of uvicorn's own supervisor (`Supervisor`), for any worker count, 1 included.
Plain uvicorn (0.54) stops the whole service as soon as one worker fails its start-up,
on the reasoning that the app is broken and would fail the same way again; and it exits
0 with "Stopping parent process" as its last line. That is right for a bad setting and
wrong for a database that is down for a minute: a worker that dies (or is killed) then
cannot be replaced, and the service is gone for good once the database is back. So:

* A worker whose start-up fails because the database is unavailable (app/db/errors.py:
  refused, shutting down, too many connections, read-only) exits EX_TEMPFAIL, and the
  supervisor starts another after a backoff (1 s doubling to 30 s, reset once a worker
  serves). The workers still serving answer /health/ready with 503 meanwhile; serving
  resumes with no operator action.
* Any other start-up failure means the service cannot start: every worker is stopped,
  and `python -m app serve` exits non-zero with the worker's reason as its last line.
* Draining (`--drain SECONDS`): on SIGTERM a worker first answers /health/ready with
  503 for that long, still serving, so that a load balancer's health check takes it out
  of rotation before it stops listening; then it stops as uvicorn does (finishes what it
  accepted). SIGINT (Ctrl-C) stops at once. Rolling restarts: docs/operations.md.
* A worker dies with its supervisor: PR_SET_PDEATHSIG (Linux) sends it SIGTERM, so a
  `kill -9` of the parent leaves nothing holding the port; elsewhere a thread polls the
  parent's pid.

Why not gunicorn's arbiter: its workers that fail to boot halt the arbiter too
(WORKER_BOOT_ERROR), the same policy as uvicorn's, so it would need the same change, plus
a new dependency and a worker class package; uvicorn's supervisor is already here, and a
subclass of it keeps its signals (TERM, INT, HUP to restart workers one by one, TTIN/TTOU).

Metrics: every worker counts into one prometheus-client multiprocess directory
(PROMETHEUS_MULTIPROC_DIR, a fresh temporary folder per run, removed at exit), so
whichever worker answers /metrics answers for all of them (app/api/metrics.py).

Two things plain `uvicorn app.main:app --workers 2` gets wrong or leaves to chance:

* TCP_NODELAY. With `--workers` > 1, uvicorn (0.54) binds the listening socket
  itself with protocol 0; the accepted connections inherit it, and asyncio sets
  TCP_NODELAY only on sockets labelled IPPROTO_TCP. Nagle's algorithm then meets
  the client's delayed ACK and every keep-alive request after the first waits
  about 40 ms on Linux (uvicorn issue #3149). `nodelay_bind_socket` labels the
  socket as TCP and sets TCP_NODELAY on it, which Linux passes on to every
  accepted connection, whichever loop serves it.
* The event loop and HTTP parser: uvloop and httptools (pinned in
  requirements.txt), named explicitly so that a missing wheel fails at start-up
  instead of silently falling back to the slower pure-Python pair. (uvloop sets
  TCP_NODELAY itself; `--loop asyncio`, for where uvloop is not available,
  relies on the socket fix above.)
"""

import ctypes
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from types import FrameType
from typing import Any

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.server import Server
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from app.core.logging import json_server_log_config
from app.failures import CannotStart, Failure

APP = "app.main:app"
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
# sysexits.h: a temporary failure, try again later. The worker's start-up met a
# database outage (app/main.py `StartUpFailure.waits`).
EX_TEMPFAIL = 75
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
# A new worker answers the supervisor's pings only once Python has started and imported
# uvicorn; uvicorn's 5 s timeout then killed healthy workers as hung on a loaded machine.
STARTING_GRACE = 60.0
_PR_SET_PDEATHSIG = 1
_bind_socket = Config.bind_socket

logger = logging.getLogger("uvicorn.error")


def nodelay_bind_socket(config: Config) -> socket.socket:
    """uvicorn's bound socket, labelled as TCP and with TCP_NODELAY (see the module doc)."""
    sock = _bind_socket(config)
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        if sock.proto == 0:
            sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP,
                                 fileno=sock.detach())
            sock.set_inheritable(True)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _die_with(parent: int) -> None:
    """End this worker (SIGTERM: it closes its listener, then drains) when `parent` dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux
        armed = False
    if os.getppid() != parent:  # the parent died before the signal was armed
        os.kill(os.getpid(), signal.SIGTERM)
    if not armed:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, daemon=True, name="parent-watch").start()


class DrainingServer(Server):
    """uvicorn's server, which on SIGTERM says "not ready" for `drain` seconds first."""

    def __init__(self, config: Config, drain: float) -> None:
        super().__init__(config)
        self.drain = drain

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        from app.api.routes.health import draining

        if sig != signal.SIGTERM or self.drain <= 0 or draining.is_set():
            super().handle_exit(sig, frame)
            return
        draining.set()
        logger.info(f"Received SIGTERM: not ready for {self.drain:g}s, then shutting down")
        timer = threading.Timer(self.drain, super().handle_exit, (sig, frame))
        timer.daemon = True
        timer.start()


class Worker(Process):
    """uvicorn's worker process, which dies with its parent, tells it why it could not
    start, and drains on SIGTERM."""

    def __init__(self, config: Config, sockets: list[socket.socket], drain: float = 0) -> None:
        self.parent = os.getpid()
        self.drain = drain
        self.born = time.monotonic()
        self._reasons: Connection
        self._reasons, self._reason_out = Pipe(duplex=False)
        super().__init__(config, sockets)

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # pragma: no cover
        _die_with(self.parent)
        try:
            super().target(sockets)
        except SystemExit as exit:
            if exit.code != STARTUP_FAILURE:
                raise
            from app.main import app

            failure = app.startup_failure
            if failure is None:
                raise
            self._reason_out.send(failure.failure)
            raise SystemExit(EX_TEMPFAIL if failure.waits else STARTUP_FAILURE) from None

    @property
    def server(self) -> Server:
        if self._server is None:
            self._server = DrainingServer(self.config, self.drain)
        return self._server

    def start(self) -> None:
        self.born = time.monotonic()
        super().start()

    def reason(self) -> Failure | None:
        """Why the (dead) worker could not start, if it said; closes the pipe it said it on."""
        try:
            if self._reasons.poll(0):
                failure: Failure = self._reasons.recv()
                return failure
        except (OSError, EOFError):
            pass
        finally:
            self._reasons.close()
            self._reason_out.close()
        return None


class Supervisor(Multiprocess):
    """uvicorn's supervisor, which waits out database outages (see the module doc)."""

    def __init__(self, config: Config, sockets: list[socket.socket], drain: float = 0) -> None:
        super().__init__(config, sockets)
        self.drain = drain
        self.failure: Failure | None = None
        self._backoff: dict[int, float] = {}
        self._due: dict[int, float] = {}  # worker slot -> when to start its replacement

    def _start(self) -> Worker:
        worker = Worker(self.config, self.sockets, self.drain)
        worker.start()
        return worker

    def init_processes(self) -> None:
        for _ in range(self.processes_num):
            self.processes.append(self._start())

    # uvicorn's own, with Worker for its Process: SIGHUP replaces workers one by one,
    # SIGTTIN adds one.
    def restart_all(self) -> None:
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            if slot in self._due:
                continue  # waiting out an outage; its replacement starts when due
            new = self._start()
            if not new.wait_until_ready(STARTING_GRACE, self.should_exit):
                new.kill()
                new.join()
                new.reason()
                _forget(new.pid)
                logger.error(f"New child process [{new.pid}] was not ready in time; keeping "
                             f"worker [{old.pid}] and aborting the restart.")
                return
            old.terminate()
            old.join()
            if isinstance(old, Worker):
                old.reason()
            _forget(old.pid)
            self.processes[slot] = new

    def handle_ttin(self) -> None:
        logger.info("Received SIGTTIN, increasing the number of processes.")
        self.processes_num += 1
        self.processes.append(self._start())

    def handle_ttou(self) -> None:
        if self.processes_num > 1:  # the last worker goes, and with it any restart due
            self._due.pop(len(self.processes) - 1, None)
        super().handle_ttou()

    def keep_subprocess_alive(self) -> None:
        for slot, process in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            if slot in self._due:
                if time.monotonic() >= self._due[slot]:
                    del self._due[slot]
                    self.processes[slot] = self._start()
                continue
            health = (process._healthcheck(self.config.timeout_worker_healthcheck)
                      if process.process.is_alive() else None)
            if health is None and process.process.is_alive() and _starting(process):
                continue  # still importing: on a busy machine that outlasts the ping
            if health is True:
                self._backoff.pop(slot, None)  # serving: the next outage starts at 1 s
            if health is not None:
                continue
            process.kill()  # hung or dead
            process.join()
            _forget(process.pid)
            self._replace(slot, process)

    def _replace(self, slot: int, process: Process) -> None:
        reason = process.reason() if isinstance(process, Worker) else None
        if process.exitcode == EX_TEMPFAIL:
            delay = self._backoff.get(slot, FIRST_BACKOFF)
            self._backoff[slot] = min(delay * 2, MAX_BACKOFF)
            self._due[slot] = time.monotonic() + delay
            why = reason.message if reason else "the database is unavailable"
            logger.warning(f"Child process [{process.pid}] could not start: {why}; "
                           f"starting another in {delay:.0f}s")
        elif process.exitcode == STARTUP_FAILURE:
            self.failure = reason or Failure("a worker failed to start; see the lines above")
            logger.error(f"Child process [{process.pid}] failed to start, stopping the "
                         "parent process.")
            self.should_exit.set()
        else:
            logger.info(f"Child process [{process.pid}] died")
            self.processes[slot] = self._start()

    def join_all(self) -> None:
        super().join_all()
        for process in self.processes:
            _forget(process.pid)


def _starting(process: Process) -> bool:
    return isinstance(process, Worker) and time.monotonic() - process.born < STARTING_GRACE


def _forget(pid: int | None) -> None:
    """Drop a dead worker's live gauges from the shared metrics (its counts stay)."""
    if pid is not None and os.environ.get(MULTIPROC_DIR):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def serve(
    host: str, port: int, workers: int, loop: str = "uvloop", log_format: str = "text",
    drain: float = 0, **options: Any,
) -> None:
    """Run the service: `workers` uvicorn processes under `Supervisor` (see the module doc).
    Raises CannotStart when a worker cannot start for a reason other than an outage."""
    if log_format == "json":
        options["log_config"] = json_server_log_config()
    # server_header=False: no `server: uvicorn` naming the stack (OWASP Secure Headers).
    config = Config(APP, host=host, port=port, workers=workers, loop=loop, http="httptools",
                    server_header=False, **options)
    metrics_dir = tempfile.mkdtemp(prefix="heroes-metrics-")
    os.environ[MULTIPROC_DIR] = metrics_dir  # inherited by every worker
    try:
        supervisor = Supervisor(config, [nodelay_bind_socket(config)], drain)
        supervisor.run()
    finally:
        del os.environ[MULTIPROC_DIR]
        shutil.rmtree(metrics_dir, ignore_errors=True)
    if supervisor.failure is not None:
        sys.stderr.flush()
        raise CannotStart(supervisor.failure)
