"""Headless Chromium driven over the DevTools protocol, through a pipe (no extra packages).

With `--remote-debugging-pipe` Chromium reads commands on fd 3 and writes
answers and events on fd 4, as NUL-terminated JSON.
"""

import base64
import fcntl
import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))

# What this machine (root, no GPU, no display) needs, and nothing that phones home.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--metrics-recording-only",
    "--window-size=1280,2000",
)


def offline_flags(allowed_host: str = "127.0.0.1") -> tuple[str, ...]:
    """Cut every host but `allowed_host` off: names do not resolve, and anything else
    (an IP literal) goes to a proxy that does not exist."""
    return (
        f"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE {allowed_host}",
        "--proxy-server=http://127.0.0.1:9",
        f"--proxy-bypass-list={allowed_host}",
    )


def _high_fd(fd: int) -> int:
    """`fd` moved to a number of 10 or more."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class Browser:
    """One headless Chromium and one page in it; every network request is recorded."""

    def __init__(self, folder: Path, extra_flags: tuple[str, ...] = ()) -> None:
        """Start Chromium with a new profile in `folder`, its own output in folder/chromium.log."""
        profile_dir = folder / "profile"
        self._log = open(folder / "chromium.log", "wb")
        commands_read, self._commands = os.pipe()
        self._answers, answers_write = os.pipe()
        # Out of the way of 3 and 4 first, so the redirections below cannot clash.
        commands_read, answers_write = (_high_fd(commands_read), _high_fd(answers_write))
        # bash puts the pipe ends on the fds Chromium expects, then becomes Chromium.
        launch = (
            f'exec "$0" "$@" 3<&{commands_read} 4>&{answers_write} '
            f"{commands_read}<&- {answers_write}>&-"
        )
        self.process = subprocess.Popen(
            ["bash", "-c", launch, str(CHROMIUM), *FLAGS, *extra_flags,
             f"--user-data-dir={profile_dir}", "--remote-debugging-pipe", "about:blank"],
            pass_fds=(commands_read, answers_write),
            stdout=self._log,
            stderr=self._log,
        )
        os.close(commands_read)
        os.close(answers_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            attached = self.call("Target.attachToTarget", targetId=target, flatten=True)
            self._session = attached["sessionId"]
            self.call("Network.enable", session=True)
            self.call("Page.enable", session=True)
        except BaseException:
            self.close()
            raise

    def _send(self, message: dict[str, Any]) -> None:
        os.write(self._commands, json.dumps(message).encode() + b"\0")

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._answers], [], [], remaining)[0]:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._answers, 1 << 16)
            if not chunk:
                raise RuntimeError(f"Chromium exited ({self.process.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(
        self, method: str, *, session: bool = False, timeout: float = 30, **params: Any
    ) -> Any:
        """Send one command and wait for its answer, keeping the events that arrive meanwhile."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        self._send(message)
        deadline = time.monotonic() + timeout
        while True:
            answer = self._receive(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", session=True, expression=expression, returnByValue=True
        )
        return result["result"].get("value")

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", session=True, url=url)

    def wait_for(self, expression: str, timeout: float = 60) -> Any:
        """Evaluate `expression` until it is truthy; its last value either way."""
        deadline = time.monotonic() + timeout
        value = self.evaluate(expression)
        while not value and time.monotonic() < deadline:
            time.sleep(0.2)
            value = self.evaluate(expression)
        return value

    def wait_for_quiet_network(self, quiet: float = 1.0, timeout: float = 15) -> None:
        """Return once the page has asked for nothing new for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        seen, since = len(self.requested_urls()), time.monotonic()
        while time.monotonic() - since < quiet and time.monotonic() < deadline:
            time.sleep(0.1)
            self.evaluate("0")  # collects the events that arrived meanwhile
            if len(self.requested_urls()) != seen:
                seen, since = len(self.requested_urls()), time.monotonic()

    def requested_urls(self) -> list[str]:
        """Every URL the page asked for, whether or not it was answered."""
        return [
            event["params"]["request"]["url"]
            for event in self.events
            if event.get("method") == "Network.requestWillBeSent"
        ]

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._answers)
        self._log.close()
