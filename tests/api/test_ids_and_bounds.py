"""Ids and integers in paths, queries and bodies. The database stores 64-bit integers:
past that range a value in a query or body is refused before any SQL runs (422), and an
id in a path names a row that cannot exist (404), however many digits it has."""

import pytest

from app.testing.factories import HeroFactory, TeamFactory
from tests.api.operations import by_id_operations, not_found_message

MAX_BIGINT = 2**63 - 1
TEAMS = "/api/v1/teams"
HEROES = "/api/v1/heroes"
USERS = "/api/v1/users"
ITEMS = "/api/v1/items"
JSON = {"Content-Type": "application/json"}
# "No error body is larger than a few KiB, whatever was sent" (the contract).
FEW_KIB = 8 * 1024
AT_MOST_MAX = f"Input should be less than or equal to {MAX_BIGINT}"

BY_ID = by_id_operations()
GET_BY_ID = [op for op in BY_ID if op.method == "GET"]


def operation_id(op):
    return f"{op.method} {op.template}"


def test_every_operation_on_one_row_is_probed(client):
    paths = client.get("/openapi.json").json()["paths"]
    documented = {
        (method.upper(), path) for path, ops in paths.items() if "{" in path for method in ops
    }

    assert {(op.method, op.template) for op in BY_ID} == documented
    assert {op.template for op in GET_BY_ID} == {template for _, template in documented}


NO_SUCH_ROW = {
    "0": 0,
    "-1": -1,
    "largest-64-bit": MAX_BIGINT,
    "2^63": 2**63,
    "20-digits": "9" * 20,
    "2^70": 2**70,
    "4301-digits": "9" * 4301,
    "5000-digits": "9" * 5000,
}


@pytest.mark.parametrize("path_id", NO_SUCH_ROW.values(), ids=NO_SUCH_ROW.keys())
@pytest.mark.parametrize("operation", BY_ID, ids=operation_id)
def test_a_path_id_no_row_has_is_404(client, superuser_headers, operation, path_id):
    body = {"json": {}} if operation.has_body else {}

    response = client.request(
        operation.method, operation.path(path_id), headers=superuser_headers, **body
    )

    assert response.status_code == 404, response.text[:200]
    assert response.json() == {"detail": not_found_message(operation.template)}


NOT_INTEGERS = {
    "word": ("abc", "int_parsing"),
    "decimal": ("1.5", "int_parsing"),
    "exponent": ("1e3", "int_parsing"),
    "5000-digits-then-a-letter": ("9" * 5000 + "x", "int_parsing_size"),
    "4301-digit-decimal": ("1" + "0" * 4300 + ".5", "int_parsing_size"),
}


@pytest.mark.parametrize(("path_id", "error_type"), NOT_INTEGERS.values(), ids=NOT_INTEGERS.keys())
@pytest.mark.parametrize("operation", GET_BY_ID, ids=operation_id)
def test_a_path_id_that_is_no_integer_is_422(
    client, superuser_headers, operation, path_id, error_type
):
    response = client.get(operation.path(path_id), headers=superuser_headers)

    assert response.status_code == 422
    assert len(response.content) <= FEW_KIB
    [error] = response.json()["detail"]
    id_name = operation.template.rsplit("{", 1)[1].rstrip("}")
    assert (error["loc"], error["type"]) == (["path", id_name], error_type)


BEYOND_IN_BODY = {
    "team_id-2^64": ("team_id", 2**64, AT_MOST_MAX),
    "team_id-2^63": ("team_id", 2**63, AT_MOST_MAX),
    "age-2^63": ("age", 2**63, AT_MOST_MAX),
    "age-below-int64": ("age", -(2**63) - 1, "Input should be greater than or equal to 0"),
}


@pytest.mark.parametrize(("field", "value", "message"), BEYOND_IN_BODY.values(),
                         ids=BEYOND_IN_BODY.keys())
def test_an_integer_past_64_bits_in_a_body_is_422_and_stores_nothing(
    client, user_headers, field, value, message
):
    body = {"name": "Thor", "secret_name": "Donald Blake", field: value}

    response = client.post(HEROES, json=body, headers=user_headers)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["msg"]) == (["body", field], message)
    assert client.get(HEROES, headers=user_headers).json() == []


def test_the_largest_64_bit_age_is_stored(client, user_headers):
    body = {"name": "Highlander", "secret_name": "Connor", "age": MAX_BIGINT}

    response = client.post(HEROES, json=body, headers=user_headers)

    assert response.status_code == 201
    assert response.json()["age"] == MAX_BIGINT
    stored = client.get(f"{HEROES}/{response.json()['id']}", headers=user_headers)
    assert stored.json()["age"] == MAX_BIGINT


def test_the_largest_64_bit_team_id_is_a_team_that_does_not_exist(client, user_headers):
    body = {"name": "Thor", "secret_name": "Donald Blake", "team_id": MAX_BIGINT}

    response = client.post(HEROES, json=body, headers=user_headers)

    assert response.status_code == 422
    assert response.json() == {"detail": f"Team {MAX_BIGINT} does not exist"}
    assert client.get(HEROES, headers=user_headers).json() == []


BEYOND_IN_QUERY = [
    (HEROES, "team_id", 2**64, MAX_BIGINT),
    (HEROES, "team_id", 2**63, MAX_BIGINT),
    (HEROES, "min_age", 2**63, MAX_BIGINT),
    (HEROES, "max_age", 2**70, MAX_BIGINT),
    (ITEMS, "owner_id", 2**64, MAX_BIGINT),
    (TEAMS, "skip", 2**63, MAX_BIGINT),
    (TEAMS, "skip", 2**64, MAX_BIGINT),
    (TEAMS, "after_id", 2**63, MAX_BIGINT),
    (TEAMS, "after_id", 2**64, MAX_BIGINT),
    (TEAMS, "limit", 2**63, 100),
]


@pytest.mark.parametrize(
    ("path", "name", "value", "largest"),
    BEYOND_IN_QUERY,
    ids=[f"{path.rsplit('/', 1)[1]}-{name}-{value.bit_length() - 1}bits"
         for path, name, value, _ in BEYOND_IN_QUERY],
)
def test_an_integer_past_64_bits_in_a_query_is_422(
    client, superuser_headers, path, name, value, largest
):
    response = client.get(path, params={name: value}, headers=superuser_headers)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", name]
    assert error["msg"] == f"Input should be less than or equal to {largest}"


@pytest.mark.parametrize(
    ("path", "name"),
    [(HEROES, "team_id"), (HEROES, "min_age"), (TEAMS, "skip"), (TEAMS, "after_id")],
)
def test_the_largest_64_bit_query_value_is_accepted_and_matches_nothing(
    client, user_headers, path, name
):
    HeroFactory(team=TeamFactory(), age=30)

    response = client.get(path, params={name: MAX_BIGINT}, headers=user_headers)

    assert (response.status_code, response.json()) == (200, [])


@pytest.mark.parametrize("digits", [4301, 5000, 200_000])
def test_an_integer_of_any_length_in_a_body_is_422(client, user_headers, digits):
    body = f'{{"name": "Thor", "secret_name": "Blake", "age": {"9" * digits}}}'

    response = client.post(HEROES, content=body, headers={**user_headers, **JSON})

    assert response.status_code == 422
    assert len(response.content) <= FEW_KIB
    [error] = response.json()["detail"]
    assert error["type"] == "json_invalid"
    assert error["ctx"] == {"error": "Integer with more than 4300 digits"}
    assert client.get(HEROES, headers=user_headers).json() == []


def test_an_integer_of_any_length_in_a_registration_is_422(client):
    body = f'{{"username": {"1" * 5000}, "email": "a@example.com", "password": "long password"}}'

    response = client.post(USERS, content=body, headers=JSON)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["ctx"] == {"error": "Integer with more than 4300 digits"}


def test_the_longest_parsable_integer_is_an_ordinary_range_error(client, user_headers):
    body = f'{{"name": "Thor", "secret_name": "Blake", "age": {"9" * 4300}}}'

    response = client.post(HEROES, content=body, headers={**user_headers, **JSON})

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["msg"]) == (["body", "age"], AT_MOST_MAX)
    assert error["input"] == "[truncated]"
