"""uvicorn subprocesses: started in their own process group, always stopped, RSS read from /proc."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import httpx

from tests.live import ROOT, free_port


class ServerFailed(RuntimeError):
    """The server exited or never answered; `log` holds what it printed."""

    def __init__(self, message: str, log: str) -> None:
        super().__init__(message)
        self.log = log


class Server:
    """`uvicorn APP --workers N` on 127.0.0.1, with `env` on top of the harness's environment."""

    # So that a wrk run can read its server's CPU, and settle on its health check.
    by_url: ClassVar[dict[str, "Server | External"]] = {}
    health: ClassVar[tuple[str, dict[str, str]]] = ("/health/live", {})

    def __init__(self, name: str, app: str, env: dict[str, str], workers: int,
                 log_dir: Path, stock_uvicorn: bool = False) -> None:
        self.name = name
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}-w{workers}-{self.port}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed by stop()
        # tests.perf.serve is uvicorn's CLI with the --workers TCP_NODELAY fix (see there).
        launcher = "uvicorn" if stock_uvicorn else "tests.perf.serve"
        cmd = [sys.executable, "-m", launcher, app, "--host", "127.0.0.1",
               "--port", str(self.port), "--workers", str(workers),
               "--no-access-log", "--log-level", "warning"]
        self.process = subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **env}, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        Server.by_url[self.url] = self

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        """Until /health/live answers 200 on every worker we can see, or ServerFailed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(f"{self.name} exited {self.process.returncode}", self.log())
            try:
                live = httpx.get(f"{self.url}/health/live", timeout=1).status_code == 200
                if live and len(self.worker_pids()) >= self.workers:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise ServerFailed(f"{self.name} not ready after {timeout:.0f}s", self.log())

    def worker_pids(self) -> list[int]:
        """The processes serving requests: uvicorn itself with one worker, its children else."""
        if self.workers == 1:
            return [self.process.pid]
        return _children(self.process.pid)

    def cpu(self) -> float:
        """CPU seconds the serving processes have used so far."""
        return cpu_seconds(self.worker_pids())

    def switches(self) -> dict[str, int]:
        """Context switches each of the serving processes' threads has made so far."""
        return context_switches(self.worker_pids())

    def rss(self) -> dict[int, dict[str, float]]:
        """Per worker pid: current (VmRSS) and peak (VmHWM) resident memory in MiB."""
        return {pid: figures for pid in self.worker_pids()
                if (figures := _memory(pid)) is not None}

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL after 10 s; idempotent."""
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Workers left behind by a master that died first share its process group.
        _signal_group(self.process.pid, signal.SIGKILL)
        if not self._log.closed:
            self._log.close()


class External:
    """A server the harness did not start (the comparison target): driven like ours,
    never started or stopped. `health` is a request that answers 200 when it is idle;
    with `pid` (the process serving it), CPU per request is read like ours."""

    def __init__(self, name: str, url: str, health: tuple[str, dict[str, str]],
                 pid: int | None = None) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.health = health
        self.pid = pid
        Server.by_url[self.url] = self

    def cpu(self) -> float | None:
        return cpu_seconds([self.pid]) if self.pid else None

    def switches(self) -> dict[str, int] | None:
        return context_switches([self.pid]) if self.pid else None


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _children(pid: int) -> list[int]:
    children: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            children.extend(int(c) for c in text.split())
    except OSError:
        # No /proc/*/children: scan every process for its parent.
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    children.append(int(entry))
    # uvicorn's multiprocess supervisor may also run a resource tracker; workers serve HTTP.
    return sorted(c for c in children if _is_worker(c))


def _is_worker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"resource_tracker" not in cmdline


def _memory(pid: int) -> dict[str, float] | None:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    values = {}
    for line in lines:
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024  # kB -> MiB
    if len(values) != 2:
        return None
    return {"rss_mib": values["VmRSS"], "peak_mib": values["VmHWM"]}


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU the processes have used so far (every thread), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / CLOCK_TICKS


def context_switches(pids: list[int]) -> dict[str, int]:
    """Voluntary and involuntary context switches of each live thread of the processes,
    by thread: a thread that ends takes its count with it, so runs compare thread by
    thread (`switches_since`).

    Per request, what handing work between threads costs beyond CPU time: each switch
    is a sleep and a wake-up (a worker thread waiting for the GIL, say)."""
    counts: dict[str, int] = {}
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                status = Path(f"/proc/{pid}/task/{task}/status").read_text()
            except OSError:
                continue  # the thread ended
            total = 0
            for line in status.splitlines():
                key, _, value = line.partition(":")
                if key in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
                    total += int(value)
            counts[f"{pid}/{task}"] = total
    return counts


def switches_since(before: dict[str, int], after: dict[str, int]) -> int:
    """Switches made between two readings by the threads alive at the second (a thread
    that ended in between is not counted: a slight undercount, never a negative)."""
    return sum(count - before.get(thread, 0) for thread, count in after.items())
