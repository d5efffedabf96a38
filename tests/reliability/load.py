"""Steady reads and writes through one base URL from a few threads, for deploy tests.

Bounded: it stops when told to, or at its deadline, whichever comes first. Every answer
is counted by status; a transport error counts as a failure too. Each write the service
acknowledged (201 with the item's id) is remembered, to be looked for afterwards.
"""

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx


@dataclass
class Outcome:
    statuses: Counter[str] = field(default_factory=Counter)
    acknowledged: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


class Load:
    def __init__(self, base_url: str, headers: dict[str, str], *, writers: int = 2,
                 readers: int = 2, pause: float = 0.01, deadline: float = 300) -> None:
        self.base_url = base_url
        self.headers = headers
        self.pause = pause
        self.deadline = time.monotonic() + deadline
        self.outcome = Outcome()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._write, args=(n,), daemon=True)
                         for n in range(writers)]
        self._threads += [threading.Thread(target=self._read, daemon=True)
                          for _ in range(readers)]

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> Outcome:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        return self.outcome

    def _running(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self.deadline

    def _record(self, what: str, response: httpx.Response | None, error: str = "") -> None:
        with self._lock:
            if response is None:
                self.outcome.statuses["transport error"] += 1
                self.outcome.failures.append(f"{what}: {error}")
                return
            self.outcome.statuses[str(response.status_code)] += 1
            if response.status_code >= 400:
                self.outcome.failures.append(f"{what}: {response.status_code} {response.text}")

    def _call(self, client: httpx.Client, method: str, path: str,
              **kwargs: object) -> httpx.Response | None:
        try:
            response = client.request(method, path, headers=self.headers, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            self._record(f"{method} {path}", None, f"{type(exc).__name__}: {exc}")
            return None
        self._record(f"{method} {path}", response)
        return response

    def _write(self, writer: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            n = 0
            while self._running():
                n += 1
                response = self._call(client, "POST", "/api/v1/items",
                                      json={"title": f"w{writer}-{n}", "description": "deploy"})
                if response is not None and response.status_code == 201:
                    with self._lock:
                        self.outcome.acknowledged.append(response.json()["id"])
                time.sleep(self.pause)

    def _read(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            while self._running():
                self._call(client, "GET", "/api/v1/items", params={"limit": 20})
                with self._lock:
                    latest = self.outcome.acknowledged[-1:] or []
                for item_id in latest:
                    self._call(client, "GET", f"/api/v1/items/{item_id}")
                time.sleep(self.pause)
