"""CORS for browser clients: the headers they need to read are exposed."""


def test_cors_exposes_paging_headers_and_the_request_id(make_client, user_headers):
    client = make_client(cors_origins=["https://app.example"])

    response = client.get(
        "/api/v1/heroes", headers={**user_headers, "Origin": "https://app.example"}
    )

    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    exposed = response.headers["Access-Control-Expose-Headers"].lower().replace(" ", "")
    assert {"x-total-count", "link", "x-request-id"} <= set(exposed.split(","))


def test_cors_preflight_allows_a_client_chosen_request_id(make_client):
    client = make_client(cors_origins=["https://app.example"])

    response = client.options(
        "/api/v1/heroes",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization, x-request-id",
        },
    )

    assert response.status_code == 200
    assert "x-request-id" in response.headers["Access-Control-Allow-Headers"].lower()


def test_other_origins_get_no_cors_headers(make_client):
    client = make_client(cors_origins=["https://app.example"])

    response = client.get("/health/live", headers={"Origin": "https://evil.example"})

    assert "Access-Control-Allow-Origin" not in response.headers
