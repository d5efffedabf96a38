"""GET /metrics: what Prometheus scrapes."""

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.api.metrics import HttpMetrics
from app.db.engines import sync_view
from tests.ops.service import service


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scrape: dict, name: str, **labels: str) -> float | None:
    return scrape.get((name, frozenset(labels.items())))


def test_requests_are_counted_by_route_template_and_status(make_client, user_headers):
    client = make_client()
    for hero_id in (1001, 1002, 1003):
        client.get(f"/api/v1/heroes/{hero_id}", headers=user_headers)
    client.get("/api/v1/heroes")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    scrape = samples(response.text)
    route = "/api/v1/heroes/{hero_id}"
    assert value(scrape, "http_requests_total", method="GET", route=route, status="404") == 3
    assert value(scrape, "http_requests_total", method="GET", route="/api/v1/heroes",
                 status="401") == 1
    assert value(scrape, "http_request_duration_seconds_count", method="GET", route=route,
                 status="404") == 3
    assert value(scrape, "http_request_duration_seconds_bucket", method="GET", route=route,
                 status="404", le="+Inf") == 3
    # No label names a raw path (a sample's value may contain the digits by chance).
    labels = [line.split("}")[0] for line in response.text.splitlines() if "{" in line]
    assert not any("1001" in label for label in labels)


def test_unknown_paths_and_methods_cannot_mint_new_series(make_client):
    client = make_client()
    for n in range(5):
        client.get(f"/random/{n}")
    client.request("BREW", "/health/live")

    scrape = samples(client.get("/metrics").text)

    assert value(scrape, "http_requests_total", method="GET", route="<unmatched>",
                 status="404") == 5
    assert value(scrape, "http_requests_total", method="OTHER", route="/health/live",
                 status="405") == 1
    assert not any("/random/" in dict(labels).get("route", "") for _, labels in scrape)


def test_each_app_counts_its_own_requests(make_client):
    first, second = make_client(), make_client()
    first.get("/health/live")

    scrape = samples(second.get("/metrics").text)

    assert value(scrape, "http_requests_total", method="GET", route="/health/live",
                 status="200") is None


def test_metrics_can_be_switched_off(make_client):
    client = make_client(metrics_enabled=False)

    off = client.get("/metrics")

    assert (off.status_code, off.json()) == (404, {"detail": "Not Found"})
    assert client.get("/health/live").json() == {"status": "ok"}


def test_pool_gauges_follow_connections_checked_out(engine, settings):
    metrics = HttpMetrics(engines=lambda: {"primary": sync_view(engine)})
    before = samples(metrics.exposition().decode())

    with sync_view(engine).connect():
        during = samples(metrics.exposition().decode())

    checked_out = "db_pool_checked_out"
    assert value(during, "db_pool_size", engine="primary") == settings.db_pool_size
    assert value(during, checked_out, engine="primary") == (
        value(before, checked_out, engine="primary") + 1
    )
    assert value(during, "db_pool_overflow", engine="primary") == 0


def test_a_running_service_reports_its_pool(tmp_path):
    ready = {"method": "GET", "route": "/health/ready", "status": "200"}
    with service(tmp_path, DB_POOL_SIZE="3", DB_MAX_OVERFLOW="2") as server:
        httpx.get(f"{server.url}/health/ready", timeout=30)
        # A request is counted just after its response is sent: scrape until it shows.
        for _ in range(50):
            scrape = samples(httpx.get(f"{server.url}/metrics", timeout=30).text)
            if value(scrape, "http_requests_total", **ready) is not None:
                break
            time.sleep(0.1)

    for engine in ("primary", "analytics"):
        assert value(scrape, "db_pool_size", engine=engine) == 3
        for gauge in ("db_pool_checked_out", "db_pool_checked_in", "db_pool_overflow"):
            assert value(scrape, gauge, engine=engine) is not None
    # The readiness check's connection stays open in the pool (idle, or just being returned).
    idle = value(scrape, "db_pool_checked_in", engine="primary")
    assert idle + value(scrape, "db_pool_checked_out", engine="primary") >= 1
    assert value(scrape, "http_requests_total", **ready) == 1


@pytest.mark.once
def test_two_workers_answer_every_scrape_for_the_whole_service(tmp_path):
    requests, scrapes = 60, 8
    ready = {"method": "GET", "route": "/health/ready", "status": "200"}
    with service(tmp_path, serve_args=["--workers", "2"],
                 DB_POOL_SIZE="3", DB_MAX_OVERFLOW="2") as server:
        # New connections from several threads, so that both workers answer some.
        with ThreadPoolExecutor(6) as pool:
            statuses = Counter(pool.map(
                lambda _: httpx.get(f"{server.url}/health/ready", timeout=30).status_code,
                range(requests)))
        assert statuses == {200: requests}
        # A request is counted just after its response is sent: scrape until it shows.
        for _ in range(50):
            scrape = samples(httpx.get(f"{server.url}/metrics", timeout=30).text)
            if value(scrape, "http_requests_total", **ready) == requests:
                break
            time.sleep(0.1)
        back_to_back = [samples(httpx.get(f"{server.url}/metrics", timeout=30).text)
                        for _ in range(scrapes)]

    assert [value(s, "http_requests_total", **ready) for s in back_to_back] == [requests] * scrapes
    assert [value(s, "http_request_duration_seconds_count", **ready)
            for s in back_to_back] == [requests] * scrapes
    # Both workers' pools (3 connections each), summed.
    assert {value(s, "db_pool_size", engine="primary") for s in back_to_back} == {6}
