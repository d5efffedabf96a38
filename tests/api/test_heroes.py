from datetime import datetime

import pytest

from app.testing.factories import HeroFactory, TeamFactory

HEROES = "/api/v1/heroes"
MISSING_ID = 2**62
HERO_FIELDS = {"id", "name", "age", "team_id", "team", "created_at", "updated_at"}


def is_utc_timestamp(value: str) -> bool:
    parsed = datetime.fromisoformat(value)
    return value.endswith(("Z", "+00:00")) and parsed.utcoffset().total_seconds() == 0


def listed_names(response) -> list[str]:
    assert response.status_code == 200
    return [hero["name"] for hero in response.json()]


def test_create_hero_without_team(client, user_headers):
    response = client.post(
        HEROES,
        json={"name": "Deadpond", "secret_name": "Dive Wilson", "age": 30},
        headers=user_headers,
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == HERO_FIELDS
    assert (body["name"], body["age"]) == ("Deadpond", 30)
    assert (body["team_id"], body["team"]) == (None, None)
    assert is_utc_timestamp(body["created_at"]) and is_utc_timestamp(body["updated_at"])
    assert response.headers["Location"].endswith(f"{HEROES}/{body['id']}")
    assert "Dive Wilson" not in response.text and "secret_name" not in response.text


def test_create_hero_in_a_team_embeds_the_team(client, user_headers):
    team = TeamFactory(name="Preventers", headquarters="Sharp Tower")

    response = client.post(
        HEROES,
        json={"name": "Rusty-Man", "secret_name": "Tommy Sharp", "team_id": team.id},
        headers=user_headers,
    )

    assert response.status_code == 201
    body = response.json()
    assert body["team_id"] == team.id
    assert body["team"] == {"id": team.id, "name": "Preventers", "headquarters": "Sharp Tower"}
    assert "Tommy Sharp" not in response.text


def test_created_hero_can_be_read_at_its_location(client, user_headers):
    created = client.post(
        HEROES, json={"name": "Spider-Boy", "secret_name": "Pedro"}, headers=user_headers
    )

    response = client.get(created.headers["Location"], headers=user_headers)

    assert response.status_code == 200
    assert set(response.json()) == HERO_FIELDS
    assert response.json()["name"] == "Spider-Boy"


def test_create_hero_with_missing_team_is_422_and_creates_nothing(client, user_headers):
    response = client.post(
        HEROES,
        json={"name": "Ghost", "secret_name": "Nobody", "team_id": MISSING_ID},
        headers=user_headers,
    )

    assert response.status_code == 422
    assert set(response.json()) == {"detail"}
    assert isinstance(response.json()["detail"], str)
    assert client.get(HEROES, headers=user_headers).json() == []


def test_create_hero_with_null_age(client, user_headers):
    response = client.post(
        HEROES,
        json={"name": "Ageless", "secret_name": "Unknown", "age": None},
        headers=user_headers,
    )

    assert response.status_code == 201
    assert response.json()["age"] is None


def test_create_hero_with_age_zero(client, user_headers):
    response = client.post(
        HEROES, json={"name": "Newborn", "secret_name": "Baby", "age": 0}, headers=user_headers
    )

    assert response.status_code == 201
    assert response.json()["age"] == 0


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"name": "Old", "secret_name": "S", "age": -1}, id="negative-age"),
        pytest.param({"name": "Old", "secret_name": "S", "age": "30"}, id="age-as-string"),
        pytest.param({"name": "", "secret_name": "S"}, id="empty-name"),
        pytest.param({"name": "n" * 101, "secret_name": "S"}, id="name-101-chars"),
        pytest.param({"name": "N", "secret_name": ""}, id="empty-secret-name"),
        pytest.param({"name": "N", "secret_name": "s" * 101}, id="secret-name-101-chars"),
        pytest.param({"name": "N"}, id="missing-secret-name"),
        pytest.param({"secret_name": "S"}, id="missing-name"),
        pytest.param({"name": "N", "secret_name": "S", "power": "x"}, id="unknown-field"),
        pytest.param({"name": "N", "secret_name": "S", "team_id": 0}, id="team-id-zero"),
    ],
)
def test_create_hero_with_invalid_body_is_422(client, user_headers, body):
    response = client.post(HEROES, json=body, headers=user_headers)

    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)
    assert client.get(HEROES, headers=user_headers).json() == []


def test_get_hero_embeds_team_without_secret_name(client, user_headers):
    team = TeamFactory(name="Avengers", headquarters="Stark Tower")
    hero = HeroFactory(name="Thor", secret_name="Donald Blake", age=1500, team=team)

    response = client.get(f"{HEROES}/{hero.id}", headers=user_headers)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == HERO_FIELDS
    assert (body["id"], body["name"], body["age"]) == (hero.id, "Thor", 1500)
    assert body["team_id"] == team.id
    assert body["team"] == {"id": team.id, "name": "Avengers", "headquarters": "Stark Tower"}
    assert "Donald Blake" not in response.text


def test_list_heroes_is_ordered_by_id_without_secret_names(client, user_headers):
    heroes = [HeroFactory(name=name, secret_name=f"Secret {name}") for name in ("Zed", "Abe", "Mo")]

    response = client.get(HEROES, headers=user_headers)

    assert response.status_code == 200
    assert [h["id"] for h in response.json()] == [h.id for h in heroes]
    assert all(set(h) == HERO_FIELDS for h in response.json())
    assert "Secret" not in response.text
    assert response.headers["X-Total-Count"] == "3"


def test_list_heroes_embeds_each_team(client, user_headers):
    avengers = TeamFactory(name="Avengers", headquarters="Stark Tower")
    HeroFactory(name="Thor", team=avengers)
    HeroFactory(name="Loner", team=None)

    response = client.get(HEROES, headers=user_headers)

    assert response.status_code == 200
    thor_team = {"id": avengers.id, "name": "Avengers", "headquarters": "Stark Tower"}
    assert [(h["name"], h["team_id"], h["team"]) for h in response.json()] == [
        ("Thor", avengers.id, thor_team),
        ("Loner", None, None),
    ]


def test_list_heroes_filters_by_team(client, user_headers):
    avengers, defenders = TeamFactory(), TeamFactory()
    HeroFactory(name="Thor", team=avengers)
    HeroFactory(name="Daredevil", team=defenders)
    HeroFactory(name="Hulk", team=avengers)
    HeroFactory(name="Loner", team=None)

    response = client.get(HEROES, params={"team_id": avengers.id}, headers=user_headers)

    assert listed_names(response) == ["Thor", "Hulk"]
    assert response.headers["X-Total-Count"] == "2"


def test_list_heroes_name_filter_is_case_insensitive_substring(client, user_headers):
    for name in ("Spider-Man", "Spider-Woman", "Iron Man", "Superman", "Thor"):
        HeroFactory(name=name)

    response = client.get(HEROES, params={"name": "MAN"}, headers=user_headers)

    assert listed_names(response) == ["Spider-Man", "Spider-Woman", "Iron Man", "Superman"]
    assert response.headers["X-Total-Count"] == "4"


def test_list_heroes_name_filter_treats_percent_literally(client, user_headers):
    HeroFactory(name="100% Hero")
    HeroFactory(name="100 Hero")
    HeroFactory(name="1000x Hero")

    response = client.get(HEROES, params={"name": "100%"}, headers=user_headers)

    assert listed_names(response) == ["100% Hero"]


def test_list_heroes_name_filter_treats_underscore_literally(client, user_headers):
    HeroFactory(name="Mr_Fantastic")
    HeroFactory(name="Mr-Fantastic")
    HeroFactory(name="Mr Fantastic")

    response = client.get(HEROES, params={"name": "r_f"}, headers=user_headers)

    assert listed_names(response) == ["Mr_Fantastic"]


def test_list_heroes_name_filter_treats_backslash_literally(client, user_headers):
    HeroFactory(name="Back\\slash")
    HeroFactory(name="Backslash")

    response = client.get(HEROES, params={"name": "k\\s"}, headers=user_headers)

    assert listed_names(response) == ["Back\\slash"]


def test_list_heroes_age_bounds_are_inclusive(client, user_headers):
    for name, age in (("Kid", 17), ("Young", 18), ("Middle", 40), ("Old", 65), ("Elder", 66)):
        HeroFactory(name=name, age=age)

    response = client.get(HEROES, params={"min_age": 18, "max_age": 65}, headers=user_headers)

    assert listed_names(response) == ["Young", "Middle", "Old"]
    assert response.headers["X-Total-Count"] == "3"


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"min_age": 0}, ["Zero", "Adult"]),
        ({"max_age": 1000}, ["Zero", "Adult"]),
        ({"min_age": 0, "max_age": 1000}, ["Zero", "Adult"]),
    ],
)
def test_list_heroes_age_filters_never_match_heroes_without_age(
    client, user_headers, params, expected
):
    HeroFactory(name="Zero", age=0)
    HeroFactory(name="Ageless", age=None)
    HeroFactory(name="Adult", age=30)

    response = client.get(HEROES, params=params, headers=user_headers)

    assert listed_names(response) == expected


def test_list_heroes_without_age_filter_includes_heroes_without_age(client, user_headers):
    HeroFactory(name="Ageless", age=None)

    response = client.get(HEROES, headers=user_headers)

    assert listed_names(response) == ["Ageless"]


NOT_AN_INTEGER = "Input should be a valid integer, unable to parse string as an integer"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [("min_age", -1, "Input should be greater than or equal to 0"),
     ("max_age", "old", NOT_AN_INTEGER),
     ("team_id", "abc", NOT_AN_INTEGER)],
    ids=["negative-min-age", "max-age-not-int", "team-id-not-int"],
)
def test_list_heroes_with_invalid_filter_is_422(client, user_headers, name, value, message):
    response = client.get(HEROES, params={name: value}, headers=user_headers)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["msg"]) == (["query", name], message)


def test_update_hero_with_null_team_leaves_the_team(client, user_headers):
    team = TeamFactory()
    hero = HeroFactory(team=team)

    response = client.patch(f"{HEROES}/{hero.id}", json={"team_id": None}, headers=user_headers)

    assert response.status_code == 200
    assert (response.json()["team_id"], response.json()["team"]) == (None, None)
    reread = client.get(f"{HEROES}/{hero.id}", headers=user_headers).json()
    assert (reread["team_id"], reread["team"]) == (None, None)
    roster = client.get(f"/api/v1/teams/{team.id}", headers=user_headers).json()["heroes"]
    assert roster == []


def test_update_hero_moves_it_to_another_team(client, user_headers):
    old_team = TeamFactory()
    new_team = TeamFactory(name="Fantastic Four", headquarters="Baxter Building")
    hero = HeroFactory(team=old_team)

    response = client.patch(
        f"{HEROES}/{hero.id}", json={"team_id": new_team.id}, headers=user_headers
    )

    assert response.status_code == 200
    assert response.json()["team_id"] == new_team.id
    assert response.json()["team"] == {
        "id": new_team.id,
        "name": "Fantastic Four",
        "headquarters": "Baxter Building",
    }


def test_update_hero_to_missing_team_is_422_and_keeps_the_team(client, user_headers):
    team = TeamFactory()
    hero = HeroFactory(team=team)

    response = client.patch(
        f"{HEROES}/{hero.id}", json={"team_id": MISSING_ID}, headers=user_headers
    )

    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)
    assert client.get(f"{HEROES}/{hero.id}", headers=user_headers).json()["team_id"] == team.id


def test_update_hero_changes_only_sent_fields(client, user_headers):
    team = TeamFactory()
    hero = HeroFactory(name="Hulk", age=40, team=team)

    response = client.patch(f"{HEROES}/{hero.id}", json={"age": None}, headers=user_headers)

    assert response.status_code == 200
    assert (response.json()["name"], response.json()["age"]) == ("Hulk", None)
    assert response.json()["team_id"] == team.id


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"name": None}, id="null-name"),
        pytest.param({"secret_name": None}, id="null-secret-name"),
        pytest.param({"age": -1}, id="negative-age"),
        pytest.param({"name": ""}, id="empty-name"),
        pytest.param({"power": "x"}, id="unknown-field"),
    ],
)
def test_update_hero_with_invalid_body_is_422(client, user_headers, body):
    hero = HeroFactory(name="Hulk", age=40)

    response = client.patch(f"{HEROES}/{hero.id}", json=body, headers=user_headers)

    assert response.status_code == 422
    reread = client.get(f"{HEROES}/{hero.id}", headers=user_headers).json()
    assert (reread["name"], reread["age"]) == ("Hulk", 40)


def test_delete_hero_is_204_and_hero_is_gone(client, user_headers):
    team = TeamFactory()
    hero = HeroFactory(team=team)

    response = client.delete(f"{HEROES}/{hero.id}", headers=user_headers)

    assert response.status_code == 204
    assert response.content == b""
    assert client.get(f"{HEROES}/{hero.id}", headers=user_headers).status_code == 404
    assert client.get(f"/api/v1/teams/{team.id}", headers=user_headers).status_code == 200


@pytest.mark.parametrize(
    "method, body",
    [("GET", None), ("PATCH", {"name": "Anything"}), ("DELETE", None)],
)
def test_missing_hero_is_404(client, user_headers, method, body):
    response = client.request(method, f"{HEROES}/{MISSING_ID}", json=body, headers=user_headers)

    assert response.status_code == 404
    assert response.json()["detail"].endswith("not found")


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", HEROES, {"name": "Intruder", "secret_name": "S"}),
        ("GET", HEROES, None),
        ("GET", f"{HEROES}/{{id}}", None),
        ("PATCH", f"{HEROES}/{{id}}", {"name": "Renamed"}),
        ("DELETE", f"{HEROES}/{{id}}", None),
    ],
)
def test_heroes_need_a_token(client, user_headers, method, path, body):
    hero = HeroFactory(name="Original")

    response = client.request(method, path.format(id=hero.id), json=body)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert listed_names(client.get(HEROES, headers=user_headers)) == ["Original"]


def count_statements_listing_heroes(client, db, headers, sql_statements) -> int:
    db.expire_all()
    sql_statements.clear()
    response = client.get(HEROES, params={"limit": 100}, headers=headers)
    assert response.status_code == 200
    assert all(hero["team"]["id"] == hero["team_id"] for hero in response.json())
    return len(sql_statements)


def test_listing_heroes_costs_the_same_statements_for_3_or_33_heroes(
    client, db, user_headers, sql_statements
):
    for _ in range(3):
        HeroFactory(team=TeamFactory())
    with_3_heroes = count_statements_listing_heroes(client, db, user_headers, sql_statements)
    for _ in range(30):
        HeroFactory(team=TeamFactory())

    with_33_heroes = count_statements_listing_heroes(client, db, user_headers, sql_statements)

    assert with_33_heroes == with_3_heroes
    assert with_33_heroes <= 4
    assert len(client.get(HEROES, params={"limit": 100}, headers=user_headers).json()) == 33


@pytest.mark.parametrize(("search", "found"), [
    ("élan", ["ÉLAN", "Élan Vital"]),
    ("ÉLAN", ["ÉLAN", "Élan Vital"]),
    ("ωmega", ["ΩMEGA"]),
    ("σίσυφοσ", ["ΣΊΣΥΦΟΣ"]),  # letter by letter, as PostgreSQL's lower(): no final ς
    ("istanbul", ["İSTANBUL"]),
    ("strasse", []),  # lower case, not case folding: ß is not ss on either database
])
def test_list_heroes_name_filter_ignores_case_beyond_ascii(client, user_headers, search, found):
    for name in ("ÉLAN", "Élan Vital", "Elan", "ΩMEGA", "ΣΊΣΥΦΟΣ", "İSTANBUL", "Straße"):
        HeroFactory(name=name)

    response = client.get(HEROES, params={"name": search}, headers=user_headers)

    assert listed_names(response) == found
