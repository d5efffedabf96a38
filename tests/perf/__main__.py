"""`python -m tests.perf`: seed, serve, drive with wrk, compare with the ceiling, report.

See tests/perf/__init__.py for what is measured and README.md ("Performance")
for how to read the table.
"""

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.core.config import Settings
from app.core.security import create_access_token
from tests.live import ROOT
from tests.perf import probes, report, seed, tail, textbook, wrk
from tests.perf.ceiling import STATEMENTS as CEILING_STATEMENTS
from tests.perf.servers import External, Server, ServerFailed, switches_since

SCENARIOS = ("users_get", "heroes_list", "teams_post", "textbook", "heroes_deep", "live_bcrypt",
             "rss", "scale", "tail", "ladder")
# Compared with the ceiling at every worker count; the rest run with the first count only.
CEILING_SCENARIOS = ("users_get", "heroes_list", "teams_post")
DEFAULT_VARIANTS = {
    "sync": {"DATABASE_URL": "{driver:postgresql+psycopg2}"},
    "async": {"DATABASE_URL": "{driver:postgresql+asyncpg}"},
}
SECRET_KEY = "perf-harness-secret-key-" + "0123456789abcdef" * 2
LOGIN_THREADS = 8
LADDER_SECONDS = 6
REPORT = ROOT / "tests" / "perf" / "REPORT.md"
CHART = ROOT / "tests" / "perf" / "ladder.png"
CHANGES = ROOT / "tests" / "perf" / "CHANGES.md"
TOKENS = 64


@dataclass
class Mode:
    name: str
    sizes: seed.Sizes
    scale_small: int
    scale_big: int
    duration: int  # seconds per wrk round
    warmup: int  # seconds of wrk before each target's first round; 0: a few requests only
    rounds: int  # A B pairs per comparison
    connections: int
    workers: list[int]
    statement_repeat: int
    budget: int  # seconds before the whole run is stopped


QUICK = Mode("quick", seed.Sizes(1_000, 50, 1_000, 1_000), 1_000, 10_000, duration=1,
             warmup=0, rounds=1, connections=8, workers=[1], statement_repeat=5, budget=240)
FULL = Mode("full", seed.Sizes(100_000, 1_000, 100_000, 100_000), 10_000, 1_000_000,
            duration=10, warmup=2, rounds=2, connections=32, workers=[1, 2],
            statement_repeat=20, budget=1500)


class Deadline(Exception):
    pass


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------- helpers


def tokens_for(db: seed.SeededDatabase, n: int = TOKENS) -> list[str]:
    """Signed like the service signs them, for random seeded users."""
    rng = random.Random(7)
    ids = rng.sample(range(1, db.sizes.users + 1), min(n, db.sizes.users))
    return [create_access_token(user_id=i, hashed_password=db.user_hash, secret_key=SECRET_KEY,
                                expires_minutes=24 * 60) for i in ids]


def variant_env(spec: dict[str, str], db: seed.SeededDatabase) -> dict[str, str]:
    """The variant's environment for `db`: `{driver:NAME}` becomes db's URL with that driver."""
    env = {}
    for key, value in spec.items():
        if value.startswith("{driver:") and value.endswith("}"):
            value = db.url_for(value[len("{driver:"):-1])
        env[key] = value
    return env


def base_env() -> dict[str, str]:
    return {
        "SECRET_KEY": SECRET_KEY,
        "AUTO_MIGRATE": "false",  # the harness migrated; a variant may override it
        "BCRYPT_ROUNDS": str(seed.LOGIN_HASH_ROUNDS),
        "DATABASE_ECHO": "false",
        "ANALYTICS_DATABASE_URL": "",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def probe(url: str, token: str) -> str | None:
    """None if the hot paths answer as they should, else what went wrong."""
    headers = {"Authorization": f"Bearer {token}"}
    checks = [
        ("GET", "/api/v1/users/1", None, 200),
        ("GET", "/api/v1/heroes?limit=100", None, 200),
        ("GET", "/api/v1/heroes?limit=100&after_id=0", None, 200),
        ("POST", "/api/v1/teams",
         {"name": f"probe-{random.getrandbits(48):x}", "headquarters": "Probe"}, 201),
    ]
    with httpx.Client(base_url=url, timeout=30, headers=headers) as client:
        for _ in range(5):  # also warms pools and statement caches
            for method, path, body, expected in checks:
                if body is not None:
                    body = {**body, "name": f"probe-{random.getrandbits(48):x}"}
                try:
                    response = client.request(method, path, json=body)
                except httpx.HTTPError as exc:
                    return f"{method} {path}: {type(exc).__name__}: {exc}"
                if response.status_code != expected:
                    return f"{method} {path} -> {response.status_code} {response.text[:200]}"
    return None


def count_statements(env: dict[str, str], token: str, repeat: int, heroes: int,
                     timeout: float = 120) -> dict[str, Any]:
    """Statements per request inside the service of this variant (see statements.py)."""
    spec = {
        "token": token,
        "repeat": repeat,
        "requests": {
            "users_get": {"method": "GET", "path": "/api/v1/users/1"},
            "heroes_first": {"method": "GET", "path": "/api/v1/heroes?limit=100"},
            "heroes_after": {"method": "GET",
                             "path": f"/api/v1/heroes?limit=100&after_id={max(heroes - 150, 0)}"},
            "teams_post": {"method": "POST", "path": "/api/v1/teams",
                           "json": {"name": f"count-{random.getrandbits(32):x}-{{n}}",
                                    "headquarters": "Counting House"}},
        },
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tests.perf.statements"],
        check=False, input=json.dumps(spec), cwd=ROOT,
        env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"statement count exited {proc.returncode}: {_tail(proc.stderr)}")
    return json.loads(lines[-1])


STALL_SECONDS = 5.0


def settle(url: str, limit: float = 90.0) -> float:
    """Seconds until the server answers its health check promptly three times in a row.

    wrk stops with requests in flight and the server finishes them; without this
    the next run would start on top of them. A long wait means the server was
    stalled, which the report shows. The check is /health/live, or what an external
    server was given (External.health).
    """
    server = Server.by_url.get(url)
    path, headers = server.health if server else Server.health
    started = time.monotonic()
    prompt = 0
    while prompt < 3 and time.monotonic() - started < limit:
        sent = time.monotonic()
        try:
            ok = httpx.get(f"{url}{path}", headers=headers, timeout=limit).status_code == 200
        except httpx.HTTPError:
            ok = False
        prompt = prompt + 1 if ok and time.monotonic() - sent < 0.2 else 0
        if prompt < 3:
            time.sleep(0.05)
    return time.monotonic() - started


def drive(url: str, script: Path, load: wrk.Load) -> dict[str, float]:
    """One wrk run, then wait for the server to finish what wrk left in flight.

    `cpu_s` is the CPU the server's processes used during the run (user + system,
    every thread, from /proc): with `requests` it gives CPU per request, which a
    busy shared machine disturbs far less than requests per second. `switches`: their
    threads' context switches, where a thread pool's hand-offs show."""
    server = Server.by_url.get(url)
    cpu_before = server.cpu() if server else None
    switches_before = server.switches() if server else None
    result = wrk.run(url, script, load)
    if server and cpu_before is not None:
        result["cpu_s"] = server.cpu() - cpu_before
    if server and switches_before is not None:
        result["switches"] = switches_since(switches_before, server.switches() or {})
    result["settle_s"] = round(settle(url), 2)
    result["stalled"] = result["requests"] == 0 or result["settle_s"] > STALL_SECONDS
    return result


def combine(runs: list[dict[str, float]]) -> dict[str, Any]:
    """Rounds of one target: total requests over total time; mean of the percentiles
    of the rounds that got answers. A stalled round (no answer, or a long settle)
    is counted in `stalled_rounds`."""
    seconds = sum(r["duration_us"] for r in runs) / 1e6
    requests = sum(r["requests"] for r in runs)
    answered = [r for r in runs if r["requests"]] or runs
    return {
        "rps": requests / seconds if seconds else 0.0,
        "requests": requests,
        "seconds": seconds,
        "p50_ms": sum(r["p50_us"] for r in answered) / len(answered) / 1000,
        "p99_ms": sum(r["p99_us"] for r in answered) / len(answered) / 1000,
        "non_2xx": sum(r["non_2xx"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "stalled_rounds": sum(1 for r in runs if r.get("stalled")),
        "cpu_us_per_request": (1e6 * sum(r["cpu_s"] for r in runs) / requests
                               if requests and all("cpu_s" in r for r in runs) else None),
        "switches_per_request": (sum(r["switches"] for r in runs) / requests
                                 if requests and all("switches" in r for r in runs) else None),
        "max_settle_s": max((r.get("settle_s", 0.0) for r in runs), default=0.0),
        "rounds": runs,
    }


@dataclass
class Compare:
    """An already-running server to drive beside ours (--compare-url ...): one path, one
    token. Our side of it is GET /api/v1/items/{id}: one item, with its owner's token."""

    name: str
    url: str
    token: str
    path: str
    pid: int | None = None

    def check(self) -> str | None:
        """None if the path answers 200 with the token, else what it answered."""
        try:
            response = httpx.get(f"{self.url}{self.path}", timeout=30,
                                 headers={"Authorization": f"Bearer {self.token}"})
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if response.status_code != 200:
            return f"GET {self.path} -> {response.status_code} {response.text[:200]}"
        return None


@dataclass
class Ctx:
    mode: Mode
    load: wrk.Load
    scripts: Path
    tokens: list[str]
    db: seed.SeededDatabase
    deadline: float
    stock_uvicorn: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    compare: Compare | None = None

    def script(self, workload: str, tokens: list[str] | None = None,
               **params: object) -> Callable[[], Path]:
        return lambda: wrk.write_script(self.scripts, workload, tokens or self.tokens, **params)


Script = Callable[[], Path]


def alternate(ctx: Ctx, targets: dict[str, str], script: Script | dict[str, Script],
              load: wrk.Load | None = None, rounds: int | None = None,
              during: Callable[[str], Any] | None = None) -> dict[str, dict[str, Any]]:
    """wrk on each target in turn, A B A B ...; a fresh script per run (new team names).

    `script` is one workload for every target, or one per target's name.
    `during(name)` is a context manager factory entered around each run of that target.
    """
    load = load or ctx.load
    scripts = script if isinstance(script, dict) else {name: script for name in targets}
    if ctx.mode.warmup:
        for name, url in targets.items():
            drive(url, scripts[name](),
                  wrk.Load(ctx.mode.warmup, load.connections, load.threads))
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    for _ in range(rounds or ctx.mode.rounds):
        for name, url in targets.items():
            if time.monotonic() > ctx.deadline:
                raise Deadline("time budget spent")
            cm = during(name) if during else _nothing()
            with cm as extra:
                result = drive(url, scripts[name](), load)
            if extra:
                result.update(extra)
            runs[name].append(result)
    return {name: combine(r) for name, r in runs.items()}


@contextmanager
def _nothing() -> Iterator[dict[str, Any]]:
    yield {}


@contextmanager
def logins(url: str, threads: int = LOGIN_THREADS) -> Iterator[dict[str, Any]]:
    """`threads` clients logging in back to back (cost-12 hash) while the body runs."""
    stop = threading.Event()
    stats: dict[str, Any] = {"logins": 0, "login_failures": 0, "login_seconds": 0.0}
    lock = threading.Lock()

    def loop() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    ok = client.post("/api/v1/auth/token", data={
                        "username": seed.LOGIN_USERNAME, "password": seed.LOGIN_PASSWORD,
                    }).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    stats["logins" if ok else "login_failures"] += 1
                    stats["login_seconds"] += time.monotonic() - started

    workers = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for t in workers:
        t.start()
    time.sleep(0.5)  # every client has a login in flight
    try:
        yield stats
    finally:
        stop.set()
        for t in workers:
            t.join(timeout=60)
        done = stats["logins"] + stats["login_failures"]
        stats["login_mean_ms"] = 1000 * stats.pop("login_seconds") / done if done else None


def start(servers: list[Server]) -> None:
    """Wait for every server (they boot in parallel)."""
    for server in servers:
        server.wait_ready()


def rss_snapshot(server: Server) -> dict[str, Any]:
    figures = server.rss()
    return {"workers": len(figures),
            "rss_mib": sum(f["rss_mib"] for f in figures.values()),
            "peak_mib_per_worker": [round(f["peak_mib"], 1) for f in figures.values()]}


# ------------------------------------------------------------------- scenarios


def run_block(ctx: Ctx, name: str, env: dict[str, str], workers: int, scenarios: list[str],
              first_block: bool, log_dir: Path, profile_dir: Path | None) -> dict[str, Any]:
    """One variant at one worker count: service and ceiling side by side."""
    block: dict[str, Any] = {"workers": workers, "scenarios": {}}
    ceiling_env = {**base_env(), "PERF_CEILING_DSN": ctx.db.libpq_dsn}
    service = Server(name, "app.main:app", {**base_env(), **env}, workers, log_dir,
                     ctx.stock_uvicorn)
    ceiling = Server("ceiling", "tests.perf.ceiling:app", ceiling_env, workers, log_dir,
                     ctx.stock_uvicorn)
    try:
        try:
            service.wait_ready()
        except ServerFailed as exc:
            block["available"] = False
            block["reason"] = f"{exc}: {_tail(exc.log)}"
            return block
        problem = probe(service.url, ctx.tokens[0])
        if problem:
            block["available"] = False
            block["reason"] = f"{problem} | log: {_tail(service.log())}"
            return block
        block["available"] = True
        ceiling.wait_ready()
        problem = probe(ceiling.url, ctx.tokens[0])
        if problem:
            raise RuntimeError(f"the ceiling is broken: {problem}\n{ceiling.log()}")
        targets = {"ceiling": ceiling.url, "service": service.url}
        s = ctx.db.sizes
        workloads = {
            "users_get": ctx.script("users_get", max_id=s.users),
            "heroes_list": ctx.script("get_path", path="/api/v1/heroes?limit=100"),
            "teams_post": ctx.script("teams_post"),
        }
        for scenario in CEILING_SCENARIOS:
            if scenario in scenarios:
                started = time.monotonic()
                block["scenarios"][scenario] = alternate(ctx, targets, workloads[scenario])
                _progress(name, workers, scenario, block["scenarios"][scenario], started)
        if "textbook" in scenarios:
            started = time.monotonic()
            result = run_textbook(ctx, name, env, workers, service, log_dir, first_block)
            block["scenarios"]["textbook"] = result
            _textbook_progress(name, workers, result, started)
        if first_block and "heroes_deep" in scenarios:
            started = time.monotonic()
            depth = max(s.heroes - 150, 0)
            paths = {
                "after_id_first": "/api/v1/heroes?limit=100&after_id=0",
                "after_id_deep": f"/api/v1/heroes?limit=100&after_id={depth}",
                "skip_first": "/api/v1/heroes?limit=100",
                "skip_deep": f"/api/v1/heroes?limit=100&skip={depth}",
            }
            runs: dict[str, list[dict[str, float]]] = {k: [] for k in paths}
            # Four kinds of page: half-length rounds keep the scenario's time in line.
            half = wrk.Load(max(1, ctx.load.duration // 2), ctx.load.connections)
            for _ in range(ctx.mode.rounds):
                for key, path in paths.items():
                    runs[key].append(drive(service.url, ctx.script("get_path", path=path)(),
                                           half))
            deep = {k: combine(v) for k, v in runs.items()}
            deep["depth"] = depth
            block["scenarios"]["heroes_deep"] = deep
            log(f"  {name} w{workers} heroes_deep: keyset deep/first p50 "
                f"{_ratio(deep['after_id_deep']['p50_ms'], deep['after_id_first']['p50_ms'])}, "
                "skip deep/first "
                f"{_ratio(deep['skip_deep']['p50_ms'], deep['skip_first']['p50_ms'])}"
                f" ({time.monotonic() - started:.0f}s)")
        if first_block and "live_bcrypt" in scenarios:
            started = time.monotonic()
            live_load = wrk.Load(ctx.load.duration, min(4, ctx.load.connections), 1)
            # The control: the ceiling's /health/live while the *service* hashes. On a
            # small machine bcrypt takes the CPU from every process; only what the
            # service loses beyond the ceiling is its own event loop being held up.
            result = alternate(
                ctx, {"idle": service.url, "logins": service.url,
                      "ceiling_idle": ceiling.url, "ceiling_logins": ceiling.url},
                ctx.script("get_plain", path="/health/live"), load=live_load,
                during=lambda target: (logins(service.url) if target.endswith("logins")
                                       else _nothing()),
            )
            block["scenarios"]["live_bcrypt"] = result
            log(f"  {name} w{workers} live_bcrypt: p99 idle {result['idle']['p99_ms']:.2f} ms, "
                f"during logins {result['logins']['p99_ms']:.2f} ms; ceiling "
                f"{result['ceiling_idle']['p99_ms']:.2f} -> "
                f"{result['ceiling_logins']['p99_ms']:.2f} ms "
                f"({time.monotonic() - started:.0f}s)")
        if profile_dir is not None and first_block:
            block["profile"] = profile(ctx, name, service, workloads["users_get"], profile_dir)
        if first_block and "rss" in scenarios:
            started = time.monotonic()
            mixed = ctx.script("mixed", max_id=s.users, max_hero=max(s.heroes - 100, 0))
            snapshots = []
            for _ in range(3):
                run = drive(service.url, mixed(), ctx.load)
                snapshots.append({**rss_snapshot(service), "rps": run["rps"],
                                  "non_2xx": run["non_2xx"]})
            first, last = snapshots[0]["rss_mib"], snapshots[-1]["rss_mib"]
            block["scenarios"]["rss"] = {"runs": snapshots,
                                         "growth": (last - first) / first if first else None}
            log(f"  {name} w{workers} rss: " + " -> ".join(
                f"{x['rss_mib']:.1f}" for x in snapshots) + f" MiB "
                f"({time.monotonic() - started:.0f}s)")
        block["service_memory"] = rss_snapshot(service)
        block["ceiling_memory"] = rss_snapshot(ceiling)
        return block
    finally:
        service.stop()
        ceiling.stop()


def run_scale(ctx: Ctx, name: str, env_spec: dict[str, str], small: seed.SeededDatabase,
              big: seed.SeededDatabase, log_dir: Path) -> dict[str, Any]:
    """GET a random user by id on a small and a big users table, alternately."""
    servers = {
        "small": Server(f"{name}-small", "app.main:app",
                        {**base_env(), **variant_env(env_spec, small)}, 1, log_dir,
                        ctx.stock_uvicorn),
        "big": Server(f"{name}-big", "app.main:app",
                      {**base_env(), **variant_env(env_spec, big)}, 1, log_dir,
                      ctx.stock_uvicorn),
    }
    try:
        start(list(servers.values()))
        scripts = {key: wrk.write_script(ctx.scripts, "users_get", tokens_for(db),
                                         max_id=db.sizes.users)
                   for key, db in (("small", small), ("big", big))}
        for key, server in servers.items():
            problem = probe(server.url, tokens_for(small if key == "small" else big)[0])
            if problem:
                return {"available": False, "reason": problem}
        runs: dict[str, list[dict[str, float]]] = {"small": [], "big": []}
        if ctx.mode.warmup:
            for key, server in servers.items():
                drive(server.url, scripts[key], wrk.Load(ctx.mode.warmup, ctx.load.connections))
        for _ in range(ctx.mode.rounds):
            for key, server in servers.items():
                runs[key].append(drive(server.url, scripts[key], ctx.load))
        result = {k: combine(v) for k, v in runs.items()}
        result["users"] = {"small": small.sizes.users, "big": big.sizes.users}
        result["available"] = True
        return result
    except ServerFailed as exc:
        return {"available": False, "reason": f"{exc}: {_tail(exc.log)}"}
    finally:
        for server in servers.values():
            server.stop()


def textbook_env(ctx: Ctx, env: dict[str, str]) -> dict[str, str]:
    """The textbook app's environment for a variant: the variant's database URL (so its
    driver and mode) and the harness's secret; none of its tuning (pool sizes, what-if
    switches), which a textbook app would not have."""
    url = env.get("DATABASE_URL") or ctx.db.url_for("postgresql+psycopg2")
    return {**base_env(), "DATABASE_URL": url, "TEXTBOOK_MODE": textbook.mode_for(url)}


def item_script(ctx: Ctx) -> Script:
    """GET /api/v1/items/{id} of one item, with its owner's token: our side of --compare."""
    item_id, owner_id = seed.owned_item(ctx.db)
    token = create_access_token(user_id=owner_id, hashed_password=ctx.db.user_hash,
                                secret_key=SECRET_KEY, expires_minutes=24 * 60)
    return ctx.script("get_path", tokens=[token], path=f"/api/v1/items/{item_id}")


def run_textbook(ctx: Ctx, name: str, env: dict[str, str], workers: int, service: Server,
                 log_dir: Path, with_compare: bool) -> dict[str, Any]:
    """GET /users/{id}: the service and the textbook shape of its mode (textbook.py),
    served alike, A B A B. With a comparison target (and `with_compare`), the same
    rounds also drive it and our GET /items/{id}: A B C D A B C D."""
    tb_env = textbook_env(ctx, env)
    result: dict[str, Any] = {"mode": tb_env["TEXTBOOK_MODE"]}
    server = Server(f"textbook-{name}", "tests.perf.textbook:app", tb_env, workers, log_dir,
                    ctx.stock_uvicorn)
    try:
        try:
            server.wait_ready()
        except ServerFailed as exc:
            return {**result, "available": False, "reason": f"{exc}: {_tail(exc.log)}"}
        problem = probe_users(server.url, ctx.tokens[0])
        if problem:
            return {**result, "available": False, "reason": f"{problem} | {_tail(server.log())}"}
        users = ctx.script("users_get", max_id=ctx.db.sizes.users)
        targets = {"textbook": server.url, "service": service.url}
        scripts: dict[str, Script] = {"textbook": users, "service": users}
        compare = ctx.compare if with_compare else None
        if compare is not None:
            result["compare"] = {"name": compare.name, "path": compare.path}
            problem = compare.check()
            if problem:
                result["compare"]["reason"] = problem
            else:
                targets.update({"service_items": service.url, "external": compare.url})
                scripts.update({"service_items": item_script(ctx), "external": ctx.script(
                    "get_path", tokens=[compare.token], path=compare.path)})
        result.update(alternate(ctx, targets, scripts))
        result["available"] = True
        return result
    finally:
        server.stop()


def probe_events(url: str) -> dict[str, Any]:
    """What a server run through probes.py recorded since the last call."""
    answer: dict[str, Any] = httpx.get(f"{url}{probes.PATH}", timeout=60).json()
    return answer


def run_tail(ctx: Ctx, name: str, env: dict[str, str], log_dir: Path) -> dict[str, Any]:
    """GET /users/{id} with every request timed (tail.py) and the server's GC pauses,
    pool checkouts, new connections and loop stalls recorded (probes.py): the service
    and the textbook app of its mode, one worker each, A B A B. One wrk thread per
    connection (the recorder needs it); the rest as the other scenarios."""
    tb_env = textbook_env(ctx, env)
    servers = {
        "service": Server(f"tail-{name}", "tests.perf.probes:app",
                          {**base_env(), **env, "PERF_PROBED_APP": "app.main:app"}, 1,
                          log_dir, ctx.stock_uvicorn),
        "textbook": Server(f"tail-textbook-{name}", "tests.perf.probes:app",
                           {**tb_env, "PERF_PROBED_APP": "tests.perf.textbook:app"}, 1,
                           log_dir, ctx.stock_uvicorn),
    }
    load = wrk.Load(ctx.load.duration, ctx.load.connections, threads=ctx.load.connections)
    runs: dict[str, list[dict[str, Any]]] = {key: [] for key in servers}
    try:
        for key, server in servers.items():
            server.wait_ready()
            problem = probe_users(server.url, ctx.tokens[0])
            if problem:
                return {"available": False, "reason": f"{key}: {problem}"}
            if ctx.mode.warmup:
                drive(server.url, ctx.script("users_get", max_id=ctx.db.sizes.users)(),
                      wrk.Load(ctx.mode.warmup, load.connections))
            probe_events(server.url)  # start-up and warm-up are not the run
        for i in range(ctx.mode.rounds):
            for key, server in servers.items():
                if time.monotonic() > ctx.deadline:
                    raise Deadline("time budget spent")
                samples_path = ctx.scripts / f"tail-{name}-{key}-{i}.txt"
                script = wrk.write_script(ctx.scripts, "users_get", ctx.tokens,
                                          tail_to=samples_path, max_id=ctx.db.sizes.users)
                figures = drive(server.url, script, load)
                # After the settle: a checkout that outlived the run is recorded by now.
                recorded = probe_events(server.url)
                run = tail.timeline(tail.read(samples_path), recorded["events"])
                run["wrk"] = {k: figures.get(k) for k in
                              ("rps", "p50_us", "p99_us", "max_us", "non_2xx", "errors",
                               "cpu_s")}
                run["tracked_objects"] = recorded["tracked_objects"]
                run["frozen_objects"] = recorded["frozen_objects"]
                runs[key].append(run)
                _tail_progress(name, key, i, run)
        return {"available": True, "connections": load.connections, "runs": runs}
    except ServerFailed as exc:
        return {"available": False, "reason": f"{exc}: {_tail(exc.log)}"}
    finally:
        for server in servers.values():
            server.stop()


def _tail_progress(name: str, key: str, i: int, run: dict[str, Any]) -> None:
    s = run["summary"]
    if not s["requests"]:
        log(f"  {name} tail {key} round {i + 1}: no answers")
        return
    causes = ", ".join(f"{c} {n}" for c, n in run["causes"].items() if n)
    log(f"  {name} tail {key} round {i + 1}: p50 {s['p50_ms']:.0f} ms, p99 {s['p99_ms']:.0f} ms, "
        f"max {s['max_ms']:.0f} ms; full GCs {s['gc_full']} (max {s['gc_full_max_ms']:.0f} ms), "
        f"connections opened {s['connects']}, longest checkout {s['checkout_max_ms']:.0f} ms; "
        f"slowest 1 %: {causes}")


def run_ladder(ctx: Ctx, variants: dict[str, dict[str, str]], log_dir: Path) -> dict[str, Any]:
    """GET /users/{id} by each rung of tests/perf/ladder.py, for each variant's driver.

    One server at a time (every rung keeps a pool of PostgreSQL connections open, and
    the server is shared), started afresh in each round, warmed for a second, then
    driven; rounds alternate over every rung so that drift touches them alike."""
    # Imported here: its rungs are built from the service's request machinery
    # (app.api.deps, app.db.session), so a change there breaks the ladder alone, not
    # the scenarios that serve the service as it is.
    from tests.perf import ladder

    targets: list[tuple[str, str, str, dict[str, str]]] = []  # key, rung, variant, env
    first_env = variant_env(next(iter(variants.values())), ctx.db)
    for rung in ladder.DRIVERLESS:
        targets.append((rung, rung, "", first_env))
    for name, spec in variants.items():
        env = variant_env(spec, ctx.db)
        for rung in (*ladder.CHAIN, *ladder.ASIDES):
            if rung not in ladder.DRIVERLESS:
                targets.append((f"{name}:{rung}", rung, name, env))
    script = ctx.script("users_get", max_id=ctx.db.sizes.users)
    runs: dict[str, list[dict[str, float]]] = {key: [] for key, *_ in targets}
    failed: dict[str, str] = {}
    warm = wrk.Load(1, ctx.load.connections, ctx.load.threads)
    # Shorter rounds than the scenarios': there are many rungs, and CPU per request
    # settles within seconds.
    load = wrk.Load(min(ctx.load.duration, LADDER_SECONDS), ctx.load.connections,
                    ctx.load.threads)
    aborted = None
    for _ in range(ctx.mode.rounds):
        if aborted:
            break
        for key, rung, _variant, env in targets:
            if key in failed:
                continue
            if time.monotonic() > ctx.deadline:
                # Keep the rounds already done: every rung has the same number of them.
                aborted = "time budget spent"
                break
            rung_env = textbook_env(ctx, env) if rung == "textbook" else {
                **base_env(), **env, "LADDER_RUNG": rung, "PERF_CEILING_DSN": ctx.db.libpq_dsn}
            server = Server(f"ladder-{key.replace(':', '-')}", ladder.target(rung), rung_env, 1,
                            log_dir, ctx.stock_uvicorn)
            try:
                server.wait_ready()
                problem = probe_users(server.url, ctx.tokens[0])
                if problem:
                    failed[key] = f"{problem} | {_tail(server.log())}"
                    continue
                drive(server.url, script(), warm)
                runs[key].append(drive(server.url, script(), load))
            except ServerFailed as exc:
                failed[key] = f"{exc}: {_tail(exc.log)}"
            finally:
                server.stop()
    if aborted:
        done = min(len(r) for k, r in runs.items() if k not in failed)
        runs = {k: r[:done] for k, r in runs.items()}
    service_pings = bool(Settings.model_fields["db_pool_pre_ping"].default)
    rungs = {key: {"rung": rung, "variant": variant, **combine(runs[key]),
                   **({"pre_ping": not service_pings} if rung == "core_ping" else {})}
             for key, rung, variant, _ in targets if runs[key]}
    chains = {name: [r if r in ladder.DRIVERLESS else f"{name}:{r}" for r in ladder.CHAIN]
              for name in variants}
    return {"rungs": rungs, "chains": chains, "failed": failed, "aborted": aborted,
            "asides": {name: {a: f"{name}:{a}" for a in ladder.ASIDES} for name in variants}}


def probe_users(url: str, token: str) -> str | None:
    """None if GET /users/1 answers 200 with the user, else what it answered."""
    try:
        response = httpx.get(f"{url}/api/v1/users/1", timeout=30,
                             headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if response.status_code != 200 or response.json().get("id") != 1:
        return f"GET /api/v1/users/1 -> {response.status_code} {response.text[:200]}"
    return None


def profile(ctx: Ctx, name: str, service: Server, script: Callable[[], Path],
            out: Path) -> dict[str, Any]:
    """py-spy on the (first) worker while wrk drives GET /users/{id}; the top frames."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return {"error": "py-spy not installed"}
    pid = service.worker_pids()[0]
    out.mkdir(parents=True, exist_ok=True)
    seconds = max(ctx.load.duration, 5)
    # Wall clock (every thread, waiting on PostgreSQL included), only the thread holding
    # the GIL (what keeps the interpreter busy), and a flame graph of the former.
    outputs = {
        "wall": (["--format", "raw"], out / f"profile-{name}-users_get-wall.txt"),
        "gil": (["--format", "raw", "--gil"], out / f"profile-{name}-users_get-gil.txt"),
        "svg": (["--format", "flamegraph"], out / f"profile-{name}-users_get.svg"),
    }
    procs = {key: subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200",
         "--nonblocking", *flags, "-o", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for key, (flags, path) in outputs.items()}
    try:
        time.sleep(0.5)
        load = drive(service.url, script(), wrk.Load(seconds + 1, ctx.load.connections))
        for proc in procs.values():
            proc.wait(timeout=seconds + 60)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    summary: dict[str, Any] = {"rps_while_profiled": load["rps"],
                               "files": [str(path) for _, path in outputs.values()]}
    for key in ("wall", "gil"):
        path = outputs[key][1]
        if path.exists():
            summary[key] = report.summarize_profile(path.read_text())
        else:
            stderr = procs[key].stderr
            summary[key] = {"error": stderr.read().decode()[-500:] if stderr else "failed"}
    return summary


# ------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.perf",
        description="Benchmark the service against a bare Starlette + asyncpg ceiling.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="small data, 1 s rounds, one worker: keeps the harness working (CI)")
    parser.add_argument("--duration", type=int, help="seconds per wrk round (integer)")
    parser.add_argument("--rounds", type=int, help="A B pairs per comparison")
    parser.add_argument("--connections", type=int, help="wrk connections")
    parser.add_argument("--workers", help="uvicorn worker counts, comma-separated (e.g. 1,2)")
    parser.add_argument("--output", type=Path, default=Path("perf-results.json"),
                        help="JSON results file (default: ./perf-results.json)")
    parser.add_argument("--database-url",
                        default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
                        help="admin URL; the harness creates and drops perf_* databases beside it")
    parser.add_argument("--ladder", action="store_true",
                        help="only the cost ladder (tests/perf/ladder.py): --scenarios ladder")
    parser.add_argument("--scenarios", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--variants", default="sync,async",
                        help="comma-separated variant names to run (default: sync,async)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:K=V[,K=V]",
                        help="define or override a variant's environment; "
                             "{driver:NAME} in a value is the seeded database's URL with "
                             "that driver, e.g. async:DATABASE_URL={driver:postgresql+asyncpg}")
    parser.add_argument("--big", action=argparse.BooleanOptionalAction, default=None,
                        help="the 1,000,000-user database for the scale scenario (default: on "
                             "in full mode)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="also py-spy the first variant's GET /users/{id} into DIR")
    parser.add_argument("--stock-uvicorn", action="store_true",
                        help="start servers with plain `python -m uvicorn` (with --workers > 1 "
                             "its sockets lack TCP_NODELAY: ~40 ms per keep-alive request)")
    parser.add_argument("--write-report", action="store_true",
                        help="write tests/perf/REPORT.md and tests/perf/ladder.png from this run")
    parser.add_argument("--keep-logs", action="store_true", help="keep server logs and scripts")
    compare = parser.add_argument_group(
        "comparison target", "an already-running server, driven with the same wrk settings in "
        "the textbook scenario's rounds (first worker count of each variant), beside our "
        "GET /api/v1/items/{id} (one item, its owner's token); the harness never starts it")
    compare.add_argument("--compare-url", help="its base URL, e.g. http://127.0.0.1:8100")
    compare.add_argument("--compare-token", help="a bearer token it accepts")
    compare.add_argument("--compare-path", help="the authenticated GET path to drive, "
                         "e.g. /api/v1/items/ID")
    compare.add_argument("--compare-name", default="external", help="its name in the report")
    compare.add_argument("--compare-pid", type=int,
                         help="the process serving it, to read its CPU per request")
    args = parser.parse_args(argv)
    given = [args.compare_url, args.compare_token, args.compare_path]
    if any(given) and not all(given):
        parser.error("--compare-url, --compare-token and --compare-path go together")
    return args


def build_mode(args: argparse.Namespace) -> Mode:
    mode = QUICK if args.quick else FULL
    mode = Mode(**{**asdict(mode), "sizes": mode.sizes})
    if args.duration:
        mode.duration = args.duration
    if args.rounds:
        mode.rounds = args.rounds
    if args.connections:
        mode.connections = args.connections
    if args.workers:
        mode.workers = [int(w) for w in args.workers.split(",")]
    if args.big is False:
        mode.scale_big = min(mode.scale_big, 100_000)
    elif args.big:
        mode.scale_big = 1_000_000
    return mode


def variants_from(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    specs = {k: dict(v) for k, v in DEFAULT_VARIANTS.items()}
    for item in args.variant:
        name, _, assignments = item.partition(":")
        env = specs.setdefault(name, {})
        for pair in filter(None, assignments.split(",")):
            key, _, value = pair.partition("=")
            env[key] = value
    wanted = [v for v in args.variants.split(",") if v]
    unknown = [v for v in wanted if v not in specs]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; define them with --variant")
    return {v: specs[v] for v in wanted}


def compare_from(args: argparse.Namespace) -> Compare | None:
    if not args.compare_url:
        return None
    compare = Compare(args.compare_name, args.compare_url.rstrip("/"), args.compare_token,
                      args.compare_path, args.compare_pid)
    External(compare.name, compare.url, (compare.path, {
        "Authorization": f"Bearer {compare.token}"}), compare.pid)
    return compare


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "kernel": platform.release()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = build_mode(args)
    scenarios = args.scenarios.split(",") if args.scenarios else list(SCENARIOS)
    if args.ladder:
        scenarios = ["ladder"]
    if "ladder" in scenarios:
        # About 19 servers per round, each started, warmed for 1 s and driven once.
        mode.budget += mode.rounds * 19 * (min(mode.duration, LADDER_SECONDS) + 8)
    round_s = mode.duration + 3  # a round, its settle and the script
    if "textbook" in scenarios:
        # Per variant and worker count: a server, then 2 (4 with --compare) targets.
        targets = 4 if args.compare_url else 2
        mode.budget += len(mode.workers) * 2 * (
            10 + targets * (mode.warmup + 3 + mode.rounds * round_s))
    if "tail" in scenarios:
        mode.budget += 2 * (20 + 2 * (mode.warmup + 3 + mode.rounds * round_s))
    bad = [s for s in scenarios if s not in SCENARIOS]
    if bad:
        raise SystemExit(f"unknown scenario(s) {bad}; known: {', '.join(SCENARIOS)}")
    variants = variants_from(args)
    if not wrk.available():
        log("wrk is not installed (Debian package `wrk`: apt-get install -y wrk)")
        return 2

    def stop_now(signum: int, _frame: Any) -> None:
        raise Deadline(f"stopped by signal {signum}")

    started = time.monotonic()
    signal.signal(signal.SIGTERM, stop_now)
    signal.signal(signal.SIGALRM, stop_now)
    signal.alarm(mode.budget)  # a hard stop: every process and database is still cleaned up
    work = Path(tempfile.mkdtemp(prefix="perf-"))
    created: list[str] = []
    results: dict[str, Any] = {
        "mode": mode.name, "command": "python -m tests.perf " + " ".join(sys.argv[1:]),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=False,
                                 capture_output=True, text=True).stdout.strip() or "?",
        "machine": machine(), "load": {"duration_s": mode.duration, "rounds": mode.rounds,
                                       "connections": mode.connections, "threads": 2,
                                       "launcher": "uvicorn" if args.stock_uvicorn
                                       else "tests.perf.serve"},
        "sizes": asdict(mode.sizes), "ceiling_statements": CEILING_STATEMENTS,
        "variants": {}, "timings": {},
    }
    ok = False
    try:
        t = time.monotonic()
        main_db = seed.seed(args.database_url, mode.sizes, log)
        created.append(main_db.name)
        scale_dbs = None
        if "scale" in scenarios:
            small = seed.seed(args.database_url, seed.Sizes(mode.scale_small, 0, 0, 0), log)
            created.append(small.name)
            big = seed.seed(args.database_url, seed.Sizes(mode.scale_big, 0, 0, 0), log)
            created.append(big.name)
            scale_dbs = (small, big)
        results["timings"]["seed_s"] = time.monotonic() - t
        results["seed"] = {"rows_per_second": main_db.rows_per_second,
                           "seconds": main_db.seconds}
        ctx = Ctx(mode=mode, load=wrk.Load(mode.duration, mode.connections), scripts=work,
                  tokens=tokens_for(main_db), db=main_db, deadline=started + mode.budget - 60,
                  stock_uvicorn=args.stock_uvicorn, compare=compare_from(args))
        if ctx.compare:  # not its token
            results["compare"] = {"name": ctx.compare.name, "url": ctx.compare.url,
                                  "path": ctx.compare.path}
        profile_dir = args.profile
        block_scenarios = [s for s in scenarios if s != "ladder"]
        for name, spec in (variants if block_scenarios else {}).items():
            t = time.monotonic()
            env = variant_env(spec, main_db)
            variant: dict[str, Any] = {"env": {k: v for k, v in env.items()}, "blocks": {}}
            results["variants"][name] = variant
            log(f"== {name}: {env}")
            try:
                variant["statements"] = count_statements(
                    {**base_env(), **env}, ctx.tokens[0], mode.statement_repeat,
                    mode.sizes.heroes)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                variant["statements"] = {"error": str(exc)[-1000:]}
            for i, workers in enumerate(mode.workers):
                block = run_block(ctx, name, env, workers, scenarios, i == 0, work,
                                  profile_dir)
                variant["blocks"][str(workers)] = block
                if not block["available"]:
                    log(f"  {name} w{workers}: not available: {block['reason'][:300]}")
                    break
                profile_dir = None  # one profile per run: the first variant that starts
            variant["available"] = any(b["available"] for b in variant["blocks"].values())
            if variant["available"] and scale_dbs:
                variant["scale"] = run_scale(ctx, name, spec, *scale_dbs, work)
            if variant["available"] and "tail" in scenarios:
                t_tail = time.monotonic()
                variant["tail"] = run_tail(ctx, name, env, work)
                results["timings"][f"{name}_tail_s"] = time.monotonic() - t_tail
            results["timings"][f"{name}_s"] = time.monotonic() - t
        if "ladder" in scenarios:
            t = time.monotonic()
            results["ladder"] = run_ladder(ctx, variants, work)
            results["timings"]["ladder_s"] = time.monotonic() - t
            log(report.ladder_text(results["ladder"]))
        ok = True
    except Deadline as exc:
        results["aborted"] = str(exc)
        log(f"aborted: {exc}")
    finally:
        signal.alarm(0)
        for name in created:
            try:
                seed.drop_database(args.database_url, name)
            except Exception as exc:  # noqa: BLE001 - report, and drop the others
                log(f"could not drop {name}: {exc}")
        if args.keep_logs or not ok:
            log(f"server logs and scripts kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["timings"]["total_s"] = time.monotonic() - started
    args.output.write_text(json.dumps(results, indent=2, default=str))
    print()
    print(report.markdown(results))
    if args.write_report:
        chart = report.ladder_chart(results["ladder"], CHART) if results.get("ladder") else False
        changes = CHANGES.read_text() if CHANGES.exists() else ""
        REPORT.write_text(report.document(results, chart=CHART.name if chart else None,
                                          changes=changes))
        log(f"wrote {REPORT}" + (f" and {CHART}" if chart else ""))
    log(f"\nJSON: {args.output}  ({results['timings']['total_s']:.0f}s in all)")
    if not ok:
        return 1
    # The harness works if the first variant ran (sync mode exists today).
    first = next(iter(results["variants"].values()), {})
    if not results["variants"]:
        return 0 if results.get("ladder", {}).get("rungs") else 1
    return 0 if first.get("available") else 1


def _tail(text: str, n: int = 400) -> str:
    """The last exception line of a log (what went wrong), else its last lines."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[\w.]+(Error|Exception|Exit)\b.*", line):
            return line[:n]
    return " ".join(lines[-3:])[-n:]


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def _textbook_progress(name: str, workers: int, result: dict[str, Any], started: float) -> None:
    if not result.get("available"):
        log(f"  {name} w{workers} textbook: not available: {result.get('reason', '')[:300]}")
        return
    s, t = result["service"], result["textbook"]
    line = (f"  {name} w{workers} textbook: service {s['rps']:.0f} req/s, textbook "
            f"({result['mode']}) {t['rps']:.0f} req/s, ratio {_ratio(s['rps'], t['rps'])}")
    compare = result.get("compare")
    if compare and "external" in result:
        e, i = result["external"], result["service_items"]
        line += (f"; GET /items/{{id}} {i['rps']:.0f} req/s, {compare['name']} "
                 f"{e['rps']:.0f} req/s, ratio {_ratio(i['rps'], e['rps'])}")
    elif compare:
        line += f"; {compare['name']} not driven: {compare.get('reason', '')[:200]}"
    log(f"{line} ({time.monotonic() - started:.0f}s)")


def _progress(name: str, workers: int, scenario: str, result: dict[str, Any],
              started: float) -> None:
    c, s = result["ceiling"], result["service"]
    log(f"  {name} w{workers} {scenario}: service {s['rps']:.0f} req/s, ceiling "
        f"{c['rps']:.0f} req/s, ratio {_ratio(s['rps'], c['rps'])} "
        f"({time.monotonic() - started:.0f}s)")


if __name__ == "__main__":
    sys.exit(main())
