"""The service as operators run it: uvicorn in a subprocess on 127.0.0.1."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, database_url: str, log_path: Path, *, serve_args: list[str] | None = None,
                 uvicorn_args: tuple[str, ...] = (), port: int | None = None,
                 **settings: str) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": TEST_SECRET_KEY,
            "BCRYPT_ROUNDS": "4",
            "AUTO_MIGRATE": "true",
            # Not throttled unless a test asks (tests/reliability/test_shared_throttle.py).
            "LOGIN_RATE_LIMIT_ENABLED": "false",
            **settings,
        }
        self._log = open(log_path, "w")
        # serve_args: `python -m app serve` with these arguments instead of plain uvicorn
        # (with uvicorn_args).
        command = ([sys.executable, "-m", "app", "serve", "--port", str(self.port), *serve_args]
                   if serve_args is not None else
                   [sys.executable, "-m", "uvicorn", "app.main:app",
                    "--host", "127.0.0.1", "--port", str(self.port), *uvicorn_args])
        self.process = subprocess.Popen(
            command,
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health/live", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@contextmanager
def live_server(database_url: str, log_path: Path, *, serve_args: list[str] | None = None,
                uvicorn_args: tuple[str, ...] = (), **settings: str) -> Iterator[LiveServer]:
    server = LiveServer(database_url, log_path, serve_args=serve_args, uvicorn_args=uvicorn_args,
                        **settings)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def register_and_login(
    base_url: str, username: str, password: str = "a long password"
) -> dict[str, str]:
    """A fresh user's bearer headers, obtained over HTTP."""
    email = f"{username}@example.com"
    httpx.post(f"{base_url}/api/v1/users",
               json={"username": username, "email": email, "password": password}, timeout=30)
    token = httpx.post(f"{base_url}/api/v1/auth/token",
                       data={"username": username, "password": password}, timeout=30)
    return {"Authorization": f"Bearer {token.json()['access_token']}"}
