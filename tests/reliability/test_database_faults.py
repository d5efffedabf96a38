"""Every way PostgreSQL says it cannot serve now is a 503, on every driver (issue 17).

The fast tests make the server itself refuse a write with a chosen SQLSTATE (a
trigger raises it), so each state arrives through the real driver, psycopg2 or
asyncpg (the async mode's configuration), as it would from a full disk or a server
shutting down; a read-only transaction refuses writes as a standby does, on SQLite too.
Before, asyncpg's plain `DBAPIError` was a 500 for every one of them, and psycopg2's
`InternalError` for a read-only database.

The slow test makes the faults for real on a private server (tests/reliability/faults.py),
on both drivers, and checks the client's keep-alive connection carries on after each.
"""

import pytest
from sqlalchemy import text

from app.api.errors import DB_READ_ONLY, DB_UNAVAILABLE
from tests.reliability.faults import DROPPED, SCENARIOS, faulty_setup

# SQLSTATEs that mean "not now": the classes 53 (insufficient resources), 57 (operator
# intervention), 58 (system error), 08 (connection), and single states beside them.
UNAVAILABLE_STATES = {
    "53100": "disk_full",
    "53200": "out_of_memory",
    "53300": "too_many_connections",
    "57014": "query_canceled",  # statement_timeout
    "57P01": "admin_shutdown",
    "57P03": "cannot_connect_now",  # starting up, or a smart shutdown under way
    "58030": "io_error",
    "08006": "connection_failure",
    "55P03": "lock_not_available",  # lock_timeout
}


@pytest.fixture
def refuse_team_inserts(settings, db):
    """Make the database refuse every new team with the SQLSTATE the test passes."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("SQLSTATEs are PostgreSQL's")

    def refuse(sqlstate: str) -> None:
        db.execute(text(
            "CREATE FUNCTION pg_temp.refuse() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION 'refused on cue' USING ERRCODE = '{sqlstate}'; END $$"
        ))
        db.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON teams "
                        "FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse()"))

    return refuse


@pytest.mark.parametrize("sqlstate", list(UNAVAILABLE_STATES), ids=UNAVAILABLE_STATES.values())
def test_a_database_that_cannot_serve_now_is_503(
    client, user_headers, refuse_team_inserts, sqlstate
):
    refuse_team_inserts(sqlstate)

    response = client.post("/api/v1/teams", json={"name": "Refused", "headquarters": "HQ"},
                           headers=user_headers)

    assert response.status_code == 503
    assert response.json() == DB_UNAVAILABLE
    assert client.get("/api/v1/teams", headers=user_headers).json() == []


@pytest.fixture
def read_only(settings, db):
    """Make the database refuse writes from here on: the transaction every request of the
    test runs in becomes READ ONLY (PostgreSQL), or the connection query-only (SQLite)."""
    if settings.database_url.startswith("postgresql"):
        db.execute(text("SET TRANSACTION READ ONLY"))  # a standby answers writes alike
        yield
    else:
        db.execute(text("PRAGMA query_only = ON"))
        yield
        db.execute(text("PRAGMA query_only = OFF"))


def test_a_read_only_database_is_503_saying_so(client, user_headers, read_only):
    response = client.post("/api/v1/teams", json={"name": "Frozen", "headquarters": "HQ"},
                           headers=user_headers)

    assert response.status_code == 503
    assert response.json() == DB_READ_ONLY
    assert "read-only" in response.json()["detail"]


@pytest.mark.once
@pytest.mark.parametrize("driver", ["psycopg2", "asyncpg"])
def test_every_fault_is_503_on_a_connection_that_carries_on(tmp_path, driver):
    """Each fault of issue 17's repro, made for real. Under each, every request is 503
    (in a burst across a restart, 200/201 or 503), and the connection it came on then
    carries a 200: a 500 would have made uvicorn drop it."""
    outcomes = {}
    with faulty_setup(driver, tmp_path / "server.log") as faults:
        for name, scenario in SCENARIOS.items():
            outcomes[name] = scenario(faults)
        log = faults.service.log()

    for name, outcome in outcomes.items():
        allowed = {200, 201, 503} if "burst" in name else {503}
        assert outcome.during and set(outcome.during) <= allowed, (name, outcome.during)
        assert DROPPED not in outcome.during and set(outcome.after) == {200}, (name, outcome)
        expected = DB_READ_ONLY if name == "read-only database" else DB_UNAVAILABLE
        assert all(body == expected for body in outcome.bodies), (name, outcome.bodies)
    assert 503 in outcomes["restart -m fast during a burst"].during  # the restart was felt
    assert "Traceback" not in log
