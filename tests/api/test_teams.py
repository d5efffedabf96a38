from datetime import UTC, datetime

import pytest

from app.testing.factories import HeroFactory, TeamFactory

TEAMS = "/api/v1/teams"
MISSING_ID = 2**62


def is_utc_timestamp(value: str) -> bool:
    parsed = datetime.fromisoformat(value)
    return value.endswith(("Z", "+00:00")) and parsed.utcoffset().total_seconds() == 0


def test_create_team_returns_201_with_location_and_body(client, user_headers):
    response = client.post(
        TEAMS, json={"name": "Avengers", "headquarters": "Stark Tower"}, headers=user_headers
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "headquarters", "created_at", "updated_at"}
    assert body["name"] == "Avengers"
    assert body["headquarters"] == "Stark Tower"
    assert isinstance(body["id"], int) and body["id"] > 0
    assert is_utc_timestamp(body["created_at"])
    assert is_utc_timestamp(body["updated_at"])
    assert response.headers["Location"].endswith(f"{TEAMS}/{body['id']}")


def test_location_of_created_team_can_be_read(client, user_headers):
    created = client.post(
        TEAMS, json={"name": "X-Men", "headquarters": "Westchester"}, headers=user_headers
    )

    response = client.get(created.headers["Location"], headers=user_headers)

    assert response.status_code == 200
    assert response.json()["name"] == "X-Men"


def test_create_team_accepts_longest_name_and_headquarters(client, user_headers):
    response = client.post(
        TEAMS, json={"name": "n" * 100, "headquarters": "h" * 200}, headers=user_headers
    )

    assert response.status_code == 201
    assert response.json()["name"] == "n" * 100
    assert response.json()["headquarters"] == "h" * 200


def test_create_team_with_taken_name_is_409(client, user_headers):
    TeamFactory(name="Avengers")

    response = client.post(
        TEAMS, json={"name": "Avengers", "headquarters": "Elsewhere"}, headers=user_headers
    )

    assert response.status_code == 409
    assert response.json() == {"detail": "Team name already exists"}


def test_rename_team_to_taken_name_is_409(client, user_headers):
    TeamFactory(name="Avengers")
    team = TeamFactory(name="Defenders")

    response = client.patch(f"{TEAMS}/{team.id}", json={"name": "Avengers"}, headers=user_headers)

    assert response.status_code == 409
    assert response.json() == {"detail": "Team name already exists"}
    assert client.get(f"{TEAMS}/{team.id}", headers=user_headers).json()["name"] == "Defenders"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"name": "", "headquarters": "HQ"}, id="empty-name"),
        pytest.param({"name": "n" * 101, "headquarters": "HQ"}, id="name-101-chars"),
        pytest.param({"name": "Avengers", "headquarters": "h" * 201}, id="headquarters-201-chars"),
        pytest.param({"name": "Avengers", "headquarters": ""}, id="empty-headquarters"),
        pytest.param({"name": 123, "headquarters": "HQ"}, id="name-not-a-string"),
        pytest.param({"name": "Avengers", "headquarters": "HQ", "motto": "x"}, id="unknown-field"),
        pytest.param({"name": "Avengers"}, id="missing-headquarters"),
        pytest.param({"headquarters": "HQ"}, id="missing-name"),
        pytest.param({"name": None, "headquarters": "HQ"}, id="null-name"),
    ],
)
def test_create_team_with_invalid_body_is_422(client, user_headers, body):
    response = client.post(TEAMS, json=body, headers=user_headers)

    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)
    assert client.get(TEAMS, headers=user_headers).json() == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"name": None}, id="null-name"),
        pytest.param({"headquarters": None}, id="null-headquarters"),
        pytest.param({"name": ""}, id="empty-name"),
        pytest.param({"name": "n" * 101}, id="name-101-chars"),
        pytest.param({"headquarters": "h" * 201}, id="headquarters-201-chars"),
        pytest.param({"name": ["Avengers"]}, id="name-not-a-string"),
        pytest.param({"motto": "x"}, id="unknown-field"),
    ],
)
def test_update_team_with_invalid_body_is_422(client, user_headers, body):
    team = TeamFactory(name="Avengers", headquarters="Stark Tower")

    response = client.patch(f"{TEAMS}/{team.id}", json=body, headers=user_headers)

    assert response.status_code == 422
    unchanged = client.get(f"{TEAMS}/{team.id}", headers=user_headers).json()
    assert (unchanged["name"], unchanged["headquarters"]) == ("Avengers", "Stark Tower")


def test_get_team_lists_its_heroes_by_id_without_secret_names(client, db, user_headers):
    team = TeamFactory()
    other_team = TeamFactory()
    late_joiner = HeroFactory(name="Wanda", age=None, team=None)
    founder = HeroFactory(name="Steve", age=101, team=team)
    HeroFactory(name="Logan", team=other_team)
    late_joiner.team = team
    db.flush()
    db.expire_all()

    response = client.get(f"{TEAMS}/{team.id}", headers=user_headers)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "name", "headquarters", "created_at", "updated_at", "heroes"}
    assert body["heroes"] == [
        {"id": late_joiner.id, "name": "Wanda", "age": None},
        {"id": founder.id, "name": "Steve", "age": 101},
    ]
    assert "secret_name" not in response.text


def test_get_team_without_heroes_has_empty_roster(client, user_headers):
    team = TeamFactory()

    response = client.get(f"{TEAMS}/{team.id}", headers=user_headers)

    assert response.status_code == 200
    assert response.json()["heroes"] == []


def test_list_teams_is_ordered_by_id_and_counted(client, user_headers):
    teams = [TeamFactory(name=name) for name in ("Zeta", "Alpha", "Mu")]

    response = client.get(TEAMS, headers=user_headers)

    assert response.status_code == 200
    assert [t["id"] for t in response.json()] == [t.id for t in teams]
    assert response.headers["X-Total-Count"] == "3"
    assert all("heroes" not in t for t in response.json())


def test_list_teams_filters_by_exact_name(client, user_headers):
    avengers = TeamFactory(name="Avengers")
    TeamFactory(name="Avengers West Coast")
    TeamFactory(name="avengers")
    TeamFactory(name="The Avengers")

    response = client.get(TEAMS, params={"name": "Avengers"}, headers=user_headers)

    assert response.status_code == 200
    assert [t["id"] for t in response.json()] == [avengers.id]
    assert response.headers["X-Total-Count"] == "1"


def test_list_teams_name_filter_matching_nothing_is_empty(client, user_headers):
    TeamFactory(name="Avengers")

    response = client.get(TEAMS, params={"name": "Aven"}, headers=user_headers)

    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["X-Total-Count"] == "0"


def test_update_team_changes_only_sent_fields(client, user_headers):
    team = TeamFactory(name="Defenders", headquarters="Sanctum")

    response = client.patch(
        f"{TEAMS}/{team.id}", json={"headquarters": "Hell's Kitchen"}, headers=user_headers
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Defenders"
    assert response.json()["headquarters"] == "Hell's Kitchen"
    assert is_utc_timestamp(response.json()["updated_at"])
    reread = client.get(f"{TEAMS}/{team.id}", headers=user_headers).json()
    assert (reread["name"], reread["headquarters"]) == ("Defenders", "Hell's Kitchen")


def test_update_team_renames_it(client, user_headers):
    team = TeamFactory(name="Defenders")

    response = client.patch(
        f"{TEAMS}/{team.id}", json={"name": "New Defenders"}, headers=user_headers
    )

    assert response.status_code == 200
    assert response.json()["name"] == "New Defenders"
    listed = client.get(TEAMS, params={"name": "New Defenders"}, headers=user_headers).json()
    assert [t["id"] for t in listed] == [team.id]


def test_update_team_keeping_its_own_name_is_not_a_conflict(client, user_headers):
    team = TeamFactory(name="Defenders")

    response = client.patch(f"{TEAMS}/{team.id}", json={"name": "Defenders"}, headers=user_headers)

    assert response.status_code == 200
    assert response.json()["name"] == "Defenders"


def test_delete_team_is_204_and_team_is_gone(client, user_headers):
    team = TeamFactory()

    response = client.delete(f"{TEAMS}/{team.id}", headers=user_headers)

    assert response.status_code == 204
    assert response.content == b""
    assert client.get(f"{TEAMS}/{team.id}", headers=user_headers).status_code == 404


def test_delete_team_keeps_its_heroes_without_a_team(client, db, user_headers):
    team = TeamFactory()
    heroes = [HeroFactory(team=team), HeroFactory(team=team)]
    bystander_team = TeamFactory()
    bystander = HeroFactory(team=bystander_team)

    response = client.delete(f"{TEAMS}/{team.id}", headers=user_headers)

    assert response.status_code == 204
    # The database nulls team_id; a real request would start with a fresh session.
    db.expire_all()
    for hero in heroes:
        body = client.get(f"/api/v1/heroes/{hero.id}", headers=user_headers).json()
        assert (body["team_id"], body["team"]) == (None, None)
    assert client.get(
        f"/api/v1/heroes/{bystander.id}", headers=user_headers
    ).json()["team_id"] == bystander_team.id


def test_delete_team_marks_its_heroes_changed(client, db, user_headers):
    team, other_team = TeamFactory(), TeamFactory()
    hero, bystander = HeroFactory(team=team), HeroFactory(team=other_team)
    long_ago = datetime(2001, 1, 1, tzinfo=UTC)
    hero.updated_at = bystander.updated_at = long_ago
    db.commit()

    response = client.delete(f"{TEAMS}/{team.id}", headers=user_headers)

    assert response.status_code == 204
    db.expire_all()
    changed = client.get(f"/api/v1/heroes/{hero.id}", headers=user_headers).json()
    untouched = client.get(f"/api/v1/heroes/{bystander.id}", headers=user_headers).json()
    assert changed["team_id"] is None
    assert datetime.fromisoformat(changed["updated_at"]) > long_ago
    assert datetime.fromisoformat(untouched["updated_at"]) == long_ago


@pytest.mark.parametrize(
    "method, body",
    [("GET", None), ("PATCH", {"name": "Anything"}), ("DELETE", None)],
)
def test_missing_team_is_404(client, user_headers, method, body):
    response = client.request(method, f"{TEAMS}/{MISSING_ID}", json=body, headers=user_headers)

    assert response.status_code == 404
    assert response.json()["detail"].endswith("not found")


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", TEAMS, {"name": "Avengers", "headquarters": "Stark Tower"}),
        ("GET", TEAMS, None),
        ("GET", f"{TEAMS}/{{id}}", None),
        ("PATCH", f"{TEAMS}/{{id}}", {"name": "Renamed"}),
        ("DELETE", f"{TEAMS}/{{id}}", None),
    ],
)
def test_teams_need_a_token(client, user_headers, method, path, body):
    team = TeamFactory(name="Original")

    response = client.request(method, path.format(id=team.id), json=body)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    listed = client.get(TEAMS, headers=user_headers).json()
    assert [(t["id"], t["name"]) for t in listed] == [(team.id, "Original")]
