"""Prometheus metrics: requests by route template and status, and the connection pools.

Each app has its own registry, so building many apps in one process (the tests
do) never registers a metric twice.

Under `python -m app serve` (app/serve.py), PROMETHEUS_MULTIPROC_DIR names a folder
that every worker counts into (prometheus-client's multiprocess mode): whichever worker
answers a scrape reports the whole service, so back-to-back scrapes agree. The pool
gauges are then the sum over live workers, each worker refreshing its share at most
once a second as it answers requests, and whenever it answers a scrape.
"""

import os
import time
from collections.abc import Callable, Iterator

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

METRICS_PATH = "/metrics"
LABELS = ("method", "route", "status")
# Anything else is counted as OTHER: a client cannot mint new time series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The service answers most requests in milliseconds; the tail goes up to the pool timeout.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

Engines = Callable[[], dict[str, Engine]]
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
POOL_DOCS = {
    "db_pool_size": "Connections the pool keeps open (DB_POOL_SIZE)",
    "db_pool_checked_out": "Connections in use by requests",
    "db_pool_checked_in": "Idle connections waiting in the pool",
    "db_pool_overflow": "Connections open beyond the pool size (up to DB_MAX_OVERFLOW)",
}
POOL_REFRESH_SECONDS = 1.0

# `*_created` timestamps double the series and no dashboard of ours reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]


class PoolCollector(Collector):
    """Connection pool gauges, read from the pools at scrape time."""

    def __init__(self, engines: Engines) -> None:
        self._engines = engines

    @staticmethod
    def _families() -> dict[str, GaugeMetricFamily]:
        return {name: GaugeMetricFamily(name, doc, labels=["engine"])
                for name, doc in POOL_DOCS.items()}

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(self._families().values())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = self._families()
        for label, name, number in pool_readings(self._engines):
            families[name].add_metric([label], number)
        return iter(families.values())


def pool_readings(engines: Engines) -> Iterator[tuple[str, str, int]]:
    """(engine label, gauge name, value) for every pool that counts its connections."""
    for label, engine in engines().items():
        pool = engine.pool
        if not isinstance(pool, QueuePool):  # NullPool, StaticPool: nothing to count
            continue
        yield label, "db_pool_size", pool.size()
        yield label, "db_pool_checked_out", pool.checkedout()
        yield label, "db_pool_checked_in", pool.checkedin()
        # QueuePool counts "overflow" from -size while the pool fills; only > 0 is overflow.
        yield label, "db_pool_overflow", max(pool.overflow(), 0)


class HttpMetrics:
    """One app's registry: request counts, latencies and pool gauges."""

    def __init__(self, engines: Engines) -> None:
        """`engines`: the engines whose pools to report, by label, looked up when scraped."""
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "http_requests", "HTTP requests answered", LABELS, registry=self.registry
        )
        self._latency = Histogram(
            "http_request_duration_seconds",
            "Time from receiving a request to sending the end of its response",
            LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._engines = engines
        # Every worker of `python -m app serve` counts into one folder (see the module doc).
        self.shared = bool(os.environ.get(MULTIPROC_DIR))
        self._pool_gauges: dict[str, Gauge] = {}
        self._pools_read_at = 0.0
        if self.shared:
            self._pool_gauges = {
                name: Gauge(name, doc, ["engine"], registry=self.registry,
                            multiprocess_mode="livesum")
                for name, doc in POOL_DOCS.items()
            }
        else:
            self.registry.register(PoolCollector(engines))
        # labels() takes a lock and validates; the children it returns are reusable.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        if method not in METHODS:
            method = "OTHER"
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            labels = (method, route, str(status))
            children = (self._requests.labels(*labels), self._latency.labels(*labels))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if self.shared and time.monotonic() - self._pools_read_at >= POOL_REFRESH_SECONDS:
            self._read_pools()

    def _read_pools(self) -> None:
        self._pools_read_at = time.monotonic()
        try:
            readings = list(pool_readings(self._engines))
        except AttributeError:  # not started: no databases yet
            return
        for label, name, number in readings:
            self._pool_gauges[name].labels(label).set(number)

    def exposition(self) -> bytes:
        if not self.shared:
            return generate_latest(self.registry)
        self._read_pools()
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return generate_latest(merged)


def install(app: FastAPI, metrics: HttpMetrics) -> None:
    """Serve `metrics` at /metrics, in Prometheus' text format (not part of the OpenAPI)."""

    async def serve_metrics(_: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    app.add_route(METRICS_PATH, serve_metrics, include_in_schema=False)
