"""Prometheus metrics: requests by route template and status, and the connection pools.

Each app has its own registry, so building many apps in one process (the tests
do) never registers a metric twice.
"""

from collections.abc import Callable, Iterator

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
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

# `*_created` timestamps double the series and no dashboard of ours reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]


class PoolCollector(Collector):
    """Connection pool gauges, read from the pools at scrape time."""

    def __init__(self, engines: Engines) -> None:
        self._engines = engines

    @staticmethod
    def _families() -> dict[str, GaugeMetricFamily]:
        docs = {
            "db_pool_size": "Connections the pool keeps open (DB_POOL_SIZE)",
            "db_pool_checked_out": "Connections in use by requests",
            "db_pool_checked_in": "Idle connections waiting in the pool",
            "db_pool_overflow": "Connections open beyond the pool size (up to DB_MAX_OVERFLOW)",
        }
        return {name: GaugeMetricFamily(name, doc, labels=["engine"]) for name, doc in docs.items()}

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(self._families().values())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = self._families()
        for label, engine in self._engines().items():
            pool = engine.pool
            if not isinstance(pool, QueuePool):  # NullPool, StaticPool: nothing to count
                continue
            families["db_pool_size"].add_metric([label], pool.size())
            families["db_pool_checked_out"].add_metric([label], pool.checkedout())
            families["db_pool_checked_in"].add_metric([label], pool.checkedin())
            # QueuePool counts "overflow" from -size while the pool fills; only > 0 is overflow.
            families["db_pool_overflow"].add_metric([label], max(pool.overflow(), 0))
        return iter(families.values())


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

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def install(app: FastAPI, metrics: HttpMetrics) -> None:
    """Serve `metrics` at /metrics, in Prometheus' text format (not part of the OpenAPI)."""

    async def serve_metrics(_: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    app.add_route(METRICS_PATH, serve_metrics, include_in_schema=False)
