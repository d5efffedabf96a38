"""The OpenAPI document as client generators read it."""

import pytest

from app.schemas.hero import HeroCreate
from app.schemas.item import ItemCreate
from app.schemas.team import TeamCreate
from app.schemas.user import UserCreate

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
CREATE_SCHEMAS = {"UserCreate": UserCreate, "TeamCreate": TeamCreate,
                  "HeroCreate": HeroCreate, "ItemCreate": ItemCreate}
ERROR_MESSAGE = {"$ref": "#/components/schemas/ErrorMessage"}


@pytest.fixture
def document(make_client):
    return make_client().get("/openapi.json").json()


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield f"{method.upper()} {path}", operation


def test_every_operation_has_one_described_tag(document):
    described = {tag["name"] for tag in document["tags"] if tag.get("description")}

    untagged = [label for label, op in operations(document) if len(op.get("tags", [])) != 1]
    undescribed = {op["tags"][0] for _, op in operations(document)} - described

    assert untagged == []
    assert undescribed == set()


def documents_a_body(response):
    content = response.get("content")
    return bool(content) and all("schema" in media for media in content.values())


def test_every_error_response_documents_its_body(document):
    bodiless = [
        f"{label} {status}"
        for label, operation in operations(document)
        for status, response in operation["responses"].items()
        if int(status) >= 400 and not documents_a_body(response)
    ]

    assert bodiless == []


def test_the_service_own_errors_share_one_schema(document):
    # 401/403/404/409 and the database outage are all {"detail": "..."}: one type for clients.
    other = [
        f"{label} {status}"
        for label, operation in operations(document)
        for status, response in operation["responses"].items()
        if status in {"401", "403", "404", "409"}
        and response["content"]["application/json"]["schema"] != ERROR_MESSAGE
    ]

    assert other == []
    assert document["components"]["schemas"]["ErrorMessage"]["required"] == ["detail"]


def test_operations_with_a_body_document_413_and_422(document):
    missing = [
        f"{label} {status}"
        for label, operation in operations(document)
        if "requestBody" in operation
        for status in ("413", "422")
        if status not in operation["responses"]
    ]

    assert missing == []


@pytest.mark.parametrize("name", sorted(CREATE_SCHEMAS))
def test_create_schemas_carry_examples_that_are_valid(document, name):
    examples = document["components"]["schemas"][name].get("examples")

    assert examples, f"{name} has no example"
    for example in examples:
        CREATE_SCHEMAS[name].model_validate(example)


def test_metrics_and_docs_are_not_api_operations(document):
    assert "/metrics" not in document["paths"]
    assert "/docs" not in document["paths"]


def test_the_document_carries_the_rules_a_client_needs(document):
    # A client developer has the OpenAPI document, not the repository: the rules
    # that hold for every operation travel in its description.
    rules = " ".join(document["info"]["description"].split())
    token_body = document["paths"]["/api/v1/auth/token"]["post"]["requestBody"]["content"]

    assert list(token_body) == ["application/x-www-form-urlencoded"]
    for rule in ("is a form", "Authorization: Bearer", "429", "Retry-After", "413",
                 "X-Total-Count", "after_id", "X-Request-ID", "first 20 errors",
                 "Unicode case folding", "relative `Location`", "refresh_token",
                 "password-reset"):
        assert rule in rules, rule
