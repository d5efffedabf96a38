"""How much one anonymous request can make the service work: a body of just under 1 MiB
of unknown keys to POST /api/v1/users, against a live server, while another thread
probes GET /health/live every 20 ms. Prints the 422's size, the request's time and the
slowest probe (the event loop's stall).

    python -m tests.perf.amplification [--database-url URL] [--rounds 3]

The server is started like the reliability tests start it (tests/live.py): uvicorn in
a subprocess on 127.0.0.1, migrating a fresh SQLite file unless a URL is given.
Numbers depend on the machine; they are for comparing two commits on one machine.
"""

import argparse
import tempfile
import threading
import time
from pathlib import Path

import httpx

from tests.live import live_server

MIB = 1024 * 1024


def unknown_keys_body(limit: int = MIB - 1024) -> tuple[bytes, int]:
    parts: list[str] = []
    size = 2
    while size + len(part := f'"k{len(parts)}":1') + 1 <= limit:
        parts.append(part)
        size += len(part) + 1
    return ("{" + ",".join(parts) + "}").encode(), len(parts)


def one_round(url: str, body: bytes) -> str:
    latencies: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            while not stop.is_set():
                started = time.perf_counter()
                client.get("/health/live")
                latencies.append(time.perf_counter() - started)
                time.sleep(0.02)

    prober = threading.Thread(target=probe)
    prober.start()
    time.sleep(0.3)
    started = time.perf_counter()
    response = httpx.post(
        f"{url}/api/v1/users",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=120,
    )
    took = time.perf_counter() - started
    time.sleep(0.2)
    stop.set()
    prober.join()
    payload = response.json()
    return (
        f"{response.status_code}, {len(response.content):,} B, "
        f"{len(payload['detail'])} errors listed, error_count={payload.get('error_count')}, "
        f"{took * 1000:,.0f} ms; /health/live: {len(latencies)} probes, "
        f"slowest {max(latencies) * 1000:,.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    body, keys = unknown_keys_body()
    print(f"body: {len(body):,} B, {keys:,} unknown keys")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/amplification.db"
        with live_server(url, Path(tmp) / "server.log") as server:
            for _ in range(args.rounds):
                print(one_round(server.url, body), flush=True)


if __name__ == "__main__":
    main()
