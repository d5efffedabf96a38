from html.parser import HTMLParser

import pytest

from app.db.session import Databases
from app.testing.asyncmode import run_async
from app.testing.databases import dead_database_url
from app.testing.factories import DEFAULT_PASSWORD

LEAK_MARKERS = ("Traceback", "sqlalchemy", "SELECT", "OperationalError", "psycopg2")
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")

CONTRACT_OPERATIONS = {
    "/api/v1/auth/token": {"post"},
    "/api/v1/users": {"get", "post"},
    "/api/v1/users/me": {"get"},
    "/api/v1/users/{user_id}": {"get", "patch", "delete"},
    "/api/v1/teams": {"get", "post"},
    "/api/v1/teams/{team_id}": {"get", "patch", "delete"},
    "/api/v1/heroes": {"get", "post"},
    "/api/v1/heroes/{hero_id}": {"get", "patch", "delete"},
    "/api/v1/items": {"get", "post"},
    "/api/v1/items/{item_id}": {"get", "patch", "delete"},
    "/api/v1/analytics/summary": {"get"},
    "/health/live": {"get"},
    "/health/ready": {"get"},
}


class AssetCollector(HTMLParser):
    """The URLs a page loads through <script src> and <link href>."""

    def __init__(self):
        super().__init__()
        self.scripts = []
        self.links = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src") is not None:
            self.scripts.append(attributes["src"])
        if tag == "link" and attributes.get("href") is not None:
            self.links.append(attributes["href"])


@pytest.fixture
def unreachable_client(client_with, settings):
    """A client for an app whose database refuses every connection."""
    dead = Databases.open(settings.model_copy(update={"database_url": dead_database_url()}))
    yield client_with(databases=dead, raise_server_exceptions=False)
    run_async(dead.dispose())


def test_live_is_ok(client):
    response = client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_is_ok_with_database(client):
    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_ready_is_503_when_database_is_unreachable(unreachable_client):
    response = unreachable_client.get("/health/ready")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable"}


@pytest.fixture
def draining():
    from app.api.routes.health import draining

    draining.set()
    yield
    draining.clear()


def test_ready_is_503_while_draining_and_the_api_still_answers(client, draining, user_headers):
    """`serve --drain`: told to stop, the process leaves the load balancer's rotation
    first (readiness 503) but answers whatever still reaches it."""
    ready = client.get("/health/ready")
    me = client.get("/api/v1/users/me", headers=user_headers)

    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "database": "ok"}
    assert me.status_code == 200
    assert client.get("/health/live").status_code == 200


def test_live_stays_ok_when_database_is_unreachable(unreachable_client):
    response = unreachable_client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_authenticated_request_is_503_when_database_is_unreachable(
    unreachable_client, user_headers
):
    response = unreachable_client.get("/api/v1/teams", headers=user_headers)

    assert response.status_code == 503
    assert response.json() == {"detail": "Database unavailable"}
    for marker in LEAK_MARKERS:
        assert marker not in response.text


def test_registration_is_503_when_database_is_unreachable(unreachable_client):
    body = {"username": "ada", "email": "ada@example.com", "password": DEFAULT_PASSWORD}

    response = unreachable_client.post("/api/v1/users", json=body)

    assert response.status_code == 503
    assert response.json() == {"detail": "Database unavailable"}


def test_login_is_503_when_database_is_unreachable(unreachable_client):
    form = {"username": "ada", "password": DEFAULT_PASSWORD}

    response = unreachable_client.post("/api/v1/auth/token", data=form)

    assert response.status_code == 503
    assert response.json() == {"detail": "Database unavailable"}


def test_docs_load_only_assets_served_by_the_app(client):
    response = client.get("/docs")
    page = AssetCollector()
    page.feed(response.text)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert page.scripts, "no <script src> on /docs"
    assert page.links, "no <link href> on /docs"
    for url in page.scripts + page.links:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url


def test_the_root_redirects_to_the_docs_and_is_not_an_operation(client):
    response = client.get("/", follow_redirects=False)

    assert (response.status_code, response.headers["location"]) == (307, "/docs")
    assert client.get("/").status_code == 200  # the docs page itself
    assert "/" not in client.get("/openapi.json").json()["paths"]


def test_docs_read_the_local_openapi_document(client):
    response = client.get("/docs")

    assert "'/openapi.json'" in response.text or '"/openapi.json"' in response.text


def test_openapi_lists_every_contract_operation(client):
    response = client.get("/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    missing = {
        path: sorted(methods - set(paths.get(path, {})))
        for path, methods in CONTRACT_OPERATIONS.items()
        if not methods <= set(paths.get(path, {}))
    }
    assert missing == {}


def test_openapi_has_no_trailing_slash_collections(client):
    paths = client.get("/openapi.json").json()["paths"]

    assert [path for path in paths if path.endswith("/")] == []


def test_every_operation_has_a_unique_operation_id(client):
    paths = client.get("/openapi.json").json()["paths"]

    operations = [
        (path, method, operation.get("operationId"))
        for path, item in paths.items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]
    operation_ids = [operation_id for _, _, operation_id in operations]

    assert len(operations) >= sum(len(m) for m in CONTRACT_OPERATIONS.values())
    assert [(path, method) for path, method, oid in operations if not oid] == []
    assert len(operation_ids) == len(set(operation_ids))
