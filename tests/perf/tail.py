"""The per-second tail: every request of a wrk run, timed and binned by second.

wrk gives one latency histogram per run, so a spike (a second or two of stalled
requests) shows only as a p99 that jumps from run to run. This module adds an
epilogue to a workload's Lua script that times each request itself and, when wrk
is done, writes one line per answered request: the time it was sent and its
latency in microseconds, and its status. `per_second` bins them by the second
they completed in: requests, p50, p99 and max per second.

Timing a request in Lua needs `request()` and `response()` to pair up, which they
do only with one connection per wrk thread (wrk calls them per thread, not per
connection): a tail run uses `-tN -cN`. The clock is CLOCK_MONOTONIC through
LuaJIT's FFI, the clock of Python's `time.monotonic()`, so that the samples line up
with what the server records on its side (tests/perf/probes.py). Requests still in
flight when wrk stops are not counted, as in wrk's own figures.

These percentiles are of the requests as answered. wrk's own (the harness's p50 and
p99 elsewhere) are corrected for coordinated omission first: every answer slower
than twice a connection's mean interval adds the answers that connection would
have had meanwhile (wrk's stats_correct). So one request stalled for seconds among
a thousand moves wrk's p99 by seconds, while every other request was fast: the two
side by side tell a spike from a slow server.
"""

from pathlib import Path
from typing import Any, NamedTuple

EPILOGUE = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } perf_tail_timespec;
int clock_gettime(int clk_id, perf_tail_timespec *tp);
]]
local clock = ffi.new("perf_tail_timespec")
local CLOCK_MONOTONIC = 1

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1000000 + math.floor(tonumber(clock.tv_nsec) / 1000)
end

-- A global: done() reads each thread's copy with thread:get("tail_samples").
tail_samples = {}
local sent_at = 0
local workload_request = request

request = function()
  sent_at = now_us()
  return workload_request()
end

function response(status, headers, body)
  local n = #tail_samples
  tail_samples[n + 1] = sent_at
  tail_samples[n + 2] = now_us() - sent_at
  tail_samples[n + 3] = status
end

local tail_threads = {}
local workload_setup = setup
function setup(thread)
  workload_setup(thread)
  tail_threads[#tail_threads + 1] = thread
end

local workload_done = done
function done(summary, latency, requests)
  workload_done(summary, latency, requests)
  local out = assert(io.open("%(tail_path)s", "w"))
  for _, thread in ipairs(tail_threads) do
    local s = thread:get("tail_samples")
    for i = 1, #s, 3 do
      out:write(string.format("%%d %%d %%d\n", s[i], s[i + 1], s[i + 2]))
    end
  end
  out:close()
end
"""


class Sample(NamedTuple):
    sent: float  # time.monotonic() seconds
    latency: float  # seconds
    status: int

    @property
    def done(self) -> float:
        return self.sent + self.latency


def epilogue(path: Path) -> str:
    """The Lua to append to a workload's script; the samples go to `path`."""
    return EPILOGUE % {"tail_path": str(path)}


def read(path: Path) -> list[Sample]:
    samples = []
    for line in path.read_text().splitlines():
        sent, latency, status = (int(x) for x in line.split())
        samples.append(Sample(sent / 1e6, latency / 1e6, status))
    samples.sort(key=lambda s: s.done)
    return samples


def percentile(values: list[float], p: float) -> float:
    """Nearest rank, of sorted `values`; 0.0 for none."""
    if not values:
        return 0.0
    rank = max(1, -(-len(values) * p // 100))  # ceil(n * p / 100)
    return values[int(rank) - 1]


def per_second(samples: list[Sample], start: float | None = None) -> list[dict[str, Any]]:
    """One row per second from `start` (default: the first request sent), by completion:
    requests, non-2xx, p50 / p99 / max latency in ms. Seconds without an answer are
    rows with 0 requests (the server stalled)."""
    if not samples:
        return []
    start = min(s.sent for s in samples) if start is None else start
    end = max(s.done for s in samples)
    rows: list[list[Sample]] = [[] for _ in range(int(end - start) + 1)]
    for s in samples:
        rows[max(0, int(s.done - start))].append(s)
    out = []
    for second, bucket in enumerate(rows):
        latencies = sorted(s.latency * 1000 for s in bucket)
        out.append({
            "second": second,
            "requests": len(bucket),
            "non_2xx": sum(1 for s in bucket if not 200 <= s.status < 300),
            "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99),
            "max_ms": latencies[-1] if latencies else 0.0,
        })
    return out


# A collection that held the interpreter this long is a pause worth naming (a
# young-generation one takes 1-5 ms here; a full one over 100 ms).
GC_PAUSE_S = 0.020


def _overlaps(event: dict[str, Any], start: float, end: float) -> bool:
    began: float = event["at"]
    return began < end and began + float(event.get("seconds", 0.0)) > start


def cause(sample: Sample, events: dict[str, list[dict[str, Any]]]) -> str:
    """What a slow request waited on, from the server's events (probes.py):

    - `pool wait`: a checkout began while it was in flight and took at least half its
      time, waiting for a connection to come back;
    - `new connection`: the same, but the checkout opened a connection (one was opened
      by the end of it), as the pool does below its size plus overflow;
    - `gc pause`: a collection of GC_PAUSE_S or more ran while it was in flight;
    - `other`: none of these (a busy server: it queued behind other requests).
    """
    start, end = sample.sent, sample.done
    for checkout in events.get("checkout", []):
        if start - 0.005 <= checkout["at"] <= end and checkout["seconds"] >= sample.latency / 2:
            ended = checkout["at"] + checkout["seconds"]
            # A connection opened meanwhile for another checkout does not count: with
            # waiters served out of order, a starved one sees others open and take them.
            opened = any(c["at"] >= checkout["at"] and abs(c["at"] + c["seconds"] - ended)
                         < 0.005 for c in events.get("connect", []))
            return "new connection" if opened else "pool wait"
    if any(e["seconds"] >= GC_PAUSE_S and _overlaps(e, start, end) for e in events.get("gc", [])):
        return "gc pause"
    return "other"


CAUSES = ("pool wait", "new connection", "gc pause", "other")


def _answered(checkout: dict[str, Any], samples: list[Sample]) -> bool:
    began: float = checkout["at"]
    ended = began + float(checkout["seconds"])
    return any(s.sent <= began + 0.005 and s.done >= ended for s in samples)


def timeline(samples: list[Sample], events: list[dict[str, Any]]) -> dict[str, Any]:
    """One tail run: per-second rows (tail.per_second plus what the server did in that
    second, by when each event began), the run's summary, and the causes of its
    slowest 1 % of requests."""
    if not samples:
        return {"seconds": [], "summary": {"requests": 0}, "causes": {}}
    start = min(s.sent for s in samples)
    end = max(s.done for s in samples)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_kind.setdefault(e["kind"], []).append(e)
    rows = per_second(samples, start)
    for row in rows:
        lo, hi = start + row["second"], start + row["second"] + 1

        def within(kind: str, lo: float = lo, hi: float = hi) -> list[dict[str, Any]]:
            return [e for e in by_kind.get(kind, []) if lo <= e["at"] < hi]

        gcs = within("gc")
        row["gc_ms"] = 1000 * sum(e["seconds"] for e in gcs)
        row["gc_full"] = sum(1 for e in gcs if e["generation"] == 2)
        row["gc_max_ms"] = 1000 * max((e["seconds"] for e in gcs), default=0.0)
        row["connects"] = len(within("connect"))
        row["closes"] = len(within("close"))
        row["prepares"] = len(within("prepare"))
        row["checkout_max_ms"] = 1000 * max((e["seconds"] for e in within("checkout")),
                                            default=0.0)
        row["stall_max_ms"] = 1000 * max((e["seconds"] for e in within("stall")), default=0.0)
    latencies = sorted(s.latency * 1000 for s in samples)
    p99 = percentile(latencies, 99)
    slowest = [s for s in samples if s.latency * 1000 >= p99]
    causes = {c: 0 for c in CAUSES}
    for s in slowest:
        causes[cause(s, by_kind)] += 1

    def during(kind: str) -> list[dict[str, Any]]:
        # The run, and the events it left running when wrk stopped (a starved checkout).
        return [e for e in by_kind.get(kind, []) if start <= e["at"] <= end]

    full = [e for e in during("gc") if e["generation"] == 2]
    checkouts = during("checkout")
    summary = {
        "requests": len(samples),
        "seconds": end - start,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": p99,
        "max_ms": latencies[-1],
        "gc_full": len(full),
        "gc_full_max_ms": 1000 * max((e["seconds"] for e in full), default=0.0),
        "gc_ms_per_s": 1000 * sum(e["seconds"] for e in during("gc")) / max(end - start, 1e-9),
        "connects": len(during("connect")),
        "connect_max_ms": 1000 * max((e["seconds"] for e in during("connect")), default=0.0),
        "prepares": len(during("prepare")),
        "checkouts_over_100ms": sum(1 for e in checkouts if e["seconds"] > 0.1),
        "checkout_max_ms": 1000 * max((e["seconds"] for e in checkouts), default=0.0),
        # A long checkout that began over a second before the last answer and that no
        # answered request spans: its request was still waiting when wrk stopped, so
        # it is in no figure of the run, wrk's included.
        "unanswered_checkouts": sum(
            1 for e in checkouts
            if e["seconds"] > 0.1 and e["at"] < end - 1 and not _answered(e, samples)),
        "stall_max_ms": 1000 * max((e["seconds"] for e in during("stall")), default=0.0),
    }
    return {"seconds": rows, "summary": summary, "causes": causes, "slowest": len(slowest)}
