"""What schemathesis found, kept as ordinary tests."""

import json

from app.testing.factories import TeamFactory

MAX_BIGINT = 2**63 - 1


def test_integer_bounds_are_published_exactly(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    team_id = schemas["HeroCreate"]["properties"]["team_id"]["anyOf"][0]
    # FastAPI alone publishes 9.223372036854776e18, which is 2**63: one past the limit.
    assert team_id["maximum"] == MAX_BIGINT and isinstance(team_id["maximum"], int)
    assert team_id["minimum"] == 1


def test_string_fields_document_that_nul_is_refused(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["TeamCreate"]["properties"]["name"]["pattern"] == "^[^\\x00]*$"
    assert schemas["ItemCreate"]["properties"]["title"]["pattern"] == "^[^\\x00]*$"


def test_whole_number_written_as_float_is_an_integer(client, user_headers):
    team = TeamFactory()

    response = client.post("/api/v1/heroes", headers=user_headers,
                           json={"name": "Float", "secret_name": "s", "age": 30.0,
                                 "team_id": float(team.id)})

    assert response.status_code == 201
    assert (response.json()["age"], response.json()["team_id"]) == (30, team.id)


def test_fractional_number_is_not_an_integer(client, user_headers):
    response = client.post("/api/v1/heroes", headers=user_headers,
                           json={"name": "Float", "secret_name": "s", "age": 30.5})

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["msg"]) == (["body", "age"], "Input should be a valid integer")
    assert client.get("/api/v1/heroes", headers=user_headers).json() == []


def test_unpaired_surrogate_is_refused_not_a_500(client, user_headers):
    body = json.dumps({"name": "\ud800", "headquarters": "HQ"})  # escaped as \\ud800

    response = client.post("/api/v1/teams", headers={**user_headers,
                           "content-type": "application/json"}, content=body)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]


def test_special_use_email_domain_is_refused_as_documented(client):
    schema = client.get("/openapi.json").json()["components"]["schemas"]["UserCreate"]
    assert ".test" in schema["properties"]["email"]["description"]

    response = client.post("/api/v1/users", json={
        "username": "tester", "email": "tester@example.test", "password": "a long password"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "email"]


def test_after_id_with_skip_is_documented(client):
    params = client.get("/openapi.json").json()["paths"]["/api/v1/teams"]["get"]["parameters"]
    after_id = next(p for p in params if p["name"] == "after_id")
    assert "skip" in after_id["description"]
