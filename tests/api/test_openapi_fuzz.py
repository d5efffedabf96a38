"""Schemathesis: generated requests from our own OpenAPI document, checked against it.

Every operation gets a bounded number of generated examples, sent through the
app with a superuser's token; all of schemathesis' checks must pass: no 5xx,
status codes, headers and bodies as documented, valid input accepted, invalid
input refused. Three rules cannot be written in OpenAPI; each is documented
in its description and left out of generation here, and tested on its own.
"""

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from app.services.idempotency import OTHER_BODY, OTHER_PATH
from app.testing.settings import service_app
from tests.mail import smtp_server

EXAMPLES_PER_OPERATION = 25
SPECIAL_USE_DOMAIN = re.compile(r"\.(test|local|localhost|invalid|onion|arpa)$|^(test|local)$")

OPERATIONS = sorted(
    f"{method.upper()} {path}"
    for path, methods in service_app().openapi()["paths"].items()
    for method in methods
)


def _outside_openapi(case) -> bool:
    """A request only the rules OpenAPI cannot express refuse."""
    query = case.query or {}
    if query.get("after_id") is not None and query.get("skip"):
        return True  # after_id with skip > 0: 422 (test_collections)
    body = case.body if isinstance(case.body, dict) else {}
    email = body.get("email")
    if isinstance(email, str) and SPECIAL_USE_DOMAIN.search(email.rpartition("@")[2].lower()):
        return True  # special-use domains are refused (test_users)
    return False


def _send(client, case, headers):
    """The generated request, through the test's own client (the app runs on the test's
    event loop in async mode, which schemathesis' ASGI client would not share)."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    data = kwargs.pop("data", None)
    if isinstance(data, bytes | str):
        kwargs["content"] = data  # requests' raw body is httpx's `content`
    elif data is not None:
        kwargs["data"] = data
    if not kwargs.get("cookies"):
        kwargs.pop("cookies", None)
    return client.request(kwargs.pop("method"), kwargs.pop("url"), **kwargs)


@pytest.fixture(scope="module")
def inbox():
    with smtp_server() as inbox:
        yield inbox


@pytest.mark.parametrize("label", OPERATIONS)
def test_operation_conforms_to_its_documentation(label, app, client_with, inbox,
                                                 superuser_headers):
    # Mail configured, so that password reset requests are fuzzed, not all 503.
    client = client_with(**inbox.settings())
    schema = schemathesis.openapi.from_dict(app.openapi())
    operation = schema.find_operation_by_label(label)

    @given(case=operation.as_strategy().filter(lambda case: not _outside_openapi(case)))
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None,
              suppress_health_check=list(HealthCheck), database=None)
    def conforms(case):
        response = _send(client, case, superuser_headers)
        if _is_missing_team(response):
            return  # a team_id no team has: the contract's 422 (test_heroes)
        if _is_unknown_reset_token(response):
            return  # a token no reset issued: the contract's 400 (test_password_reset)
        if _is_reused_key(response):
            return  # a generated key sent again with another body: the contract's 422
        if _is_stale_if_match(case, response):
            return  # an ETag the row does not have: the contract's 412 (test_conditional_requests)
        case.validate_response(response, headers=superuser_headers)

    conforms()


def _is_missing_team(response) -> bool:
    if response.status_code != 422:
        return False
    detail = response.json().get("detail")
    return isinstance(detail, str) and re.fullmatch(r"Team \d+ does not exist", detail) is not None


def _is_unknown_reset_token(response) -> bool:
    return response.status_code == 400 and response.json() == {
        "detail": "Invalid or expired reset token"
    }


def _is_stale_if_match(case, response) -> bool:
    sent = {name.lower() for name in (case.headers or {})}
    return (response.status_code == 412 and "if-match" in sent
            and response.json() == {"detail": "The resource has changed"})


def _is_reused_key(response) -> bool:
    detail = response.json().get("detail") if response.status_code == 422 else None
    return isinstance(detail, str) and detail in {OTHER_BODY, OTHER_PATH}
