"""wrk: Lua scripts for each workload, one bounded run, its figures as a dict.

Each script's `done(summary, latency, requests)` prints one line
`PERF_RESULT {...json...}` that `run` parses: wrk's Lua API reports
`summary.duration` (microseconds), `summary.requests`, `summary.errors`
(`status` counts responses with a status above 399) and `latency:percentile(p)`
in microseconds.
"""

import json
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.perf import tail

MARKER = "PERF_RESULT "

# Shared by every script: per-thread numbering and random seeds, and the result line.
_PRELUDE = r"""
local next_thread = 1
function setup(thread)
  thread:set("thread_no", next_thread)
  next_thread = next_thread + 1
end

local tokens = {%(tokens)s}
local counter = 0

function init(args)
  math.randomseed(%(seed)d + (thread_no or 0) * 7919)
  for _ = 1, 10 do math.random() end
end

local function auth()
  return {["Authorization"] = "Bearer " .. tokens[math.random(1, #tokens)]}
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(marker)s{"requests":%%d,"duration_us":%%d,"bytes":%%d,' ..
    '"non_2xx":%%d,"connect_errors":%%d,"read_errors":%%d,"write_errors":%%d,' ..
    '"timeouts":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,"mean_us":%%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read,
    e.write, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
"""

# The request() of each workload; `max_id` etc. are substituted in.
WORKLOADS = {
    # A random user by id, with a random one of the tokens.
    "users_get": r"""
function request()
  return wrk.format("GET", "/api/v1/users/" .. math.random(1, %(max_id)d), auth())
end
""",
    # A fixed path (list pages, health), with a token.
    "get_path": r"""
function request()
  return wrk.format("GET", "%(path)s", auth())
end
""",
    # A fixed path, no token.
    "get_plain": r"""
function request()
  return wrk.format("GET", "%(path)s")
end
""",
    # A new team per request: the run's tag, the thread and a per-thread counter keep names unique.
    "teams_post": r"""
function request()
  counter = counter + 1
  local headers = auth()
  headers["Content-Type"] = "application/json"
  local body = string.format('{"name":"perf-%(tag)s-%%d-%%d","headquarters":"Benchmark Street"}',
                             thread_no or 0, counter)
  return wrk.format("POST", "/api/v1/teams", headers, body)
end
""",
    # The soak mix for the memory check: reads by id, list pages and writes.
    "mixed": r"""
function request()
  counter = counter + 1
  local r = math.random()
  local headers = auth()
  if r < 0.6 then
    return wrk.format("GET", "/api/v1/users/" .. math.random(1, %(max_id)d), headers)
  elseif r < 0.9 then
    return wrk.format("GET", "/api/v1/heroes?limit=100&after_id=" ..
                      math.random(0, %(max_hero)d), headers)
  end
  headers["Content-Type"] = "application/json"
  local body = string.format('{"name":"mix-%(tag)s-%%d-%%d","headquarters":"Soak Street"}',
                             thread_no or 0, counter)
  return wrk.format("POST", "/api/v1/teams", headers, body)
end
""",
}


def write_script(directory: Path, workload: str, tokens: list[str], tail_to: Path | None = None,
                 **params: object) -> Path:
    """A Lua script for `workload`, with a fresh tag so reruns never reuse a team name.

    With `tail_to`, the script also times every request into that file (tail.py; the
    run then needs one connection per wrk thread)."""
    values = {"tokens": ", ".join(json.dumps(t) for t in tokens),
              "seed": uuid.uuid4().int % 1_000_000, "marker": MARKER,
              "tag": uuid.uuid4().hex[:8], **params}
    text = (_PRELUDE % values) + (WORKLOADS[workload] % values)
    if tail_to is not None:
        text += tail.epilogue(tail_to)
    path = directory / f"{workload}-{values['tag']}.lua"
    path.write_text(text)
    return path


@dataclass(frozen=True)
class Load:
    duration: float  # seconds
    connections: int
    threads: int = 2
    timeout: float = 5.0  # a request slower than this counts as a timeout


class WrkError(RuntimeError):
    pass


def available() -> bool:
    return shutil.which("wrk") is not None


def run(base_url: str, script: Path, load: Load) -> dict[str, float]:
    """One wrk run; its figures, with `rps` computed from requests and duration."""
    threads = max(1, min(load.threads, load.connections))
    cmd = ["wrk", f"-t{threads}", f"-c{load.connections}", f"-d{load.duration:g}s",
           f"--timeout={load.timeout:g}s", "-s", str(script), base_url]
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True,
                              timeout=load.duration + load.timeout + 30)
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk did not finish: {' '.join(cmd)}") from exc
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            result: dict[str, float] = json.loads(line[len(MARKER):])
            break
    else:
        raise WrkError(f"wrk exited {proc.returncode} without a result:\n"
                       f"{proc.stdout}\n{proc.stderr}")
    seconds = result["duration_us"] / 1e6
    result["rps"] = result["requests"] / seconds if seconds else 0.0
    result["errors"] = (result["connect_errors"] + result["read_errors"]
                        + result["write_errors"] + result["timeouts"])
    return result
