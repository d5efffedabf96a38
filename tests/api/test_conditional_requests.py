"""ETags, If-None-Match and If-Match (contract: "Conditional requests")."""

import pytest

from app.testing.factories import HeroFactory, ItemFactory, TeamFactory

CHANGED = {"detail": "The resource has changed"}


@pytest.fixture
def resources(user):
    """Per resource: a fresh row's path and a change to send it."""
    return {
        "users": (lambda: f"/api/v1/users/{user.id}", {"full_name": "Renamed"}),
        "teams": (lambda: f"/api/v1/teams/{TeamFactory().id}", {"headquarters": "Elsewhere"}),
        # An age no factory hero has (16 to 90): a change that changes nothing is no new version.
        "heroes": (lambda: f"/api/v1/heroes/{HeroFactory().id}", {"age": 91}),
        "items": (lambda: f"/api/v1/items/{ItemFactory(owner=user).id}", {"title": "Renamed"}),
    }


RESOURCES = ["users", "teams", "heroes", "items"]


@pytest.mark.parametrize("resource", RESOURCES)
def test_read_has_a_strong_etag_and_if_none_match_gives_304(client, user_headers, resources,
                                                            resource):
    path, _ = resources[resource]
    url = path()
    first = client.get(url, headers=user_headers)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag.startswith('"') and not etag.startswith("W/")

    again = client.get(url, headers={**user_headers, "If-None-Match": etag})
    weak = client.get(url, headers={**user_headers, "If-None-Match": f'"0", W/{etag}'})

    assert (again.status_code, again.content, again.headers["ETag"]) == (304, b"", etag)
    assert weak.status_code == 304  # If-None-Match compares weakly (RFC 9110, 13.1.2)
    other = client.get(url, headers={**user_headers, "If-None-Match": '"999999"'})
    assert (other.status_code, other.content) == (200, first.content)


@pytest.mark.parametrize("resource", RESOURCES)
def test_patch_with_current_etag_changes_it_and_a_stale_one_is_412(client, user_headers,
                                                                   resources, resource):
    path, change = resources[resource]
    url = path()
    etag = client.get(url, headers=user_headers).headers["ETag"]

    done = client.patch(url, json=change, headers={**user_headers, "If-Match": etag})
    stale = client.patch(url, json={**change}, headers={**user_headers, "If-Match": etag})

    assert done.status_code == 200 and done.headers["ETag"] != etag
    assert (stale.status_code, stale.json()) == (412, CHANGED)
    now = client.get(url, headers=user_headers)
    assert now.headers["ETag"] == done.headers["ETag"]
    assert now.json().items() >= done.json().items()  # a team read adds its heroes


@pytest.mark.parametrize("resource", RESOURCES)
def test_delete_with_a_stale_etag_is_412_and_keeps_the_row(client, user_headers, resources,
                                                          resource):
    path, change = resources[resource]
    url = path()
    etag = client.get(url, headers=user_headers).headers["ETag"]
    client.patch(url, json=change, headers=user_headers)  # someone else's change

    refused = client.delete(url, headers={**user_headers, "If-Match": etag})

    assert (refused.status_code, refused.json()) == (412, CHANGED)
    current = client.get(url, headers=user_headers)
    assert current.status_code == 200
    gone = client.delete(url, headers={**user_headers, "If-Match": current.headers["ETag"]})
    assert gone.status_code == 204


def test_if_match_star_and_lists(client, user, user_headers):
    url = f"/api/v1/items/{ItemFactory(owner=user).id}"
    etag = client.get(url, headers=user_headers).headers["ETag"]

    weak = client.patch(url, json={"title": "W"}, headers={**user_headers, "If-Match": f"W/{etag}"})
    listed = client.patch(url, json={"title": "L"},
                          headers={**user_headers, "If-Match": f'"77", {etag}'})
    star = client.patch(url, json={"title": "S"}, headers={**user_headers, "If-Match": "*"})

    assert weak.status_code == 412  # If-Match compares strongly: a weak tag never matches
    assert listed.status_code == 200 and listed.json()["title"] == "L"
    assert star.status_code == 200 and star.json()["title"] == "S"


def test_a_patch_that_changes_nothing_keeps_the_etag(client, user, user_headers):
    item = ItemFactory(owner=user, title="Same")
    url = f"/api/v1/items/{item.id}"
    before = client.get(url, headers=user_headers)

    same = client.patch(url, json={"title": "Same"},
                        headers={**user_headers, "If-Match": before.headers["ETag"]})

    assert same.status_code == 200 and same.headers["ETag"] == before.headers["ETag"]
    assert client.get(url, headers=user_headers).content == before.content
    stale = client.patch(url, json={"title": "Same"}, headers={**user_headers, "If-Match": '"9"'})
    assert (stale.status_code, stale.json()) == (412, CHANGED)


@pytest.mark.parametrize("value", ['3', 'W/3', '"3', '"3" "4"', '"3",,"4"', "**", '"a"b"'])
def test_a_malformed_if_match_is_422_and_changes_nothing(client, user, user_headers, value):
    item = ItemFactory(owner=user, title="Kept")

    response = client.patch(f"/api/v1/items/{item.id}", json={"title": "Lost"},
                            headers={**user_headers, "If-Match": value})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "If-Match"]
    assert client.get(f"/api/v1/items/{item.id}", headers=user_headers).json()["title"] == "Kept"


def _team_etag(client, headers, team_id):
    return client.get(f"/api/v1/teams/{team_id}", headers=headers).headers["ETag"]


def test_a_team_etag_changes_when_its_heroes_join_leave_or_are_renamed(client, user_headers):
    team, other = TeamFactory(), TeamFactory()
    seen = [_team_etag(client, user_headers, team.id)]
    hero = client.post("/api/v1/heroes", headers=user_headers,
                       json={"name": "Joiner", "secret_name": "s", "team_id": team.id}).json()
    seen.append(_team_etag(client, user_headers, team.id))
    client.patch(f"/api/v1/heroes/{hero['id']}", json={"name": "Renamed"}, headers=user_headers)
    seen.append(_team_etag(client, user_headers, team.id))
    client.patch(f"/api/v1/heroes/{hero['id']}", json={"secret_name": "unseen"},
                 headers=user_headers)
    unchanged = _team_etag(client, user_headers, team.id)
    other_before = _team_etag(client, user_headers, other.id)
    client.patch(f"/api/v1/heroes/{hero['id']}", json={"team_id": other.id}, headers=user_headers)
    seen.append(_team_etag(client, user_headers, team.id))

    assert len(set(seen)) == len(seen), seen  # join, rename, leave: a new ETag each time
    assert unchanged == seen[2]  # secret_name is not part of the team's representation
    assert _team_etag(client, user_headers, other.id) != other_before
    stale = client.patch(f"/api/v1/teams/{team.id}", json={"name": "Stale"},
                         headers={**user_headers, "If-Match": seen[0]})
    assert (stale.status_code, stale.json()) == (412, CHANGED)


def test_a_hero_etag_changes_when_its_team_is_renamed_or_deleted(client, user_headers):
    team = TeamFactory()
    hero = HeroFactory(team=team)
    url = f"/api/v1/heroes/{hero.id}"
    first = client.get(url, headers=user_headers).headers["ETag"]

    client.patch(f"/api/v1/teams/{team.id}", json={"name": "New name"}, headers=user_headers)
    renamed = client.get(url, headers=user_headers)
    client.delete(f"/api/v1/teams/{team.id}", headers=user_headers)
    detached = client.get(url, headers=user_headers)

    assert renamed.json()["team"]["name"] == "New name" and renamed.headers["ETag"] != first
    assert detached.json()["team"] is None
    assert detached.headers["ETag"] not in {first, renamed.headers["ETag"]}


def test_create_answers_with_the_etag_a_read_gives(client, user_headers):
    created = client.post("/api/v1/items", json={"title": "New"}, headers=user_headers)

    read = client.get(created.headers["Location"], headers=user_headers)

    assert created.status_code == 201 and created.headers["ETag"] == read.headers["ETag"]


def test_without_if_match_writes_go_ahead_as_before(client, user, user_headers):
    item = ItemFactory(owner=user)
    url = f"/api/v1/items/{item.id}"
    client.patch(url, json={"title": "First"}, headers=user_headers)

    second = client.patch(url, json={"title": "Second"}, headers=user_headers)

    assert second.status_code == 200 and second.json()["title"] == "Second"


def test_missing_row_with_if_match_is_404(client, user_headers):
    # RFC 9110, 13.2.1: a 404 the request would get anyway comes before the precondition.
    response = client.patch("/api/v1/items/999999", json={"title": "x"},
                            headers={**user_headers, "If-Match": "*"})
    assert (response.status_code, response.json()) == (404, {"detail": "Item not found"})


def test_openapi_declares_etag_304_and_412(client):
    paths = client.get("/openapi.json").json()["paths"]
    for resource, one in (("users", "user"), ("teams", "team"), ("heroes", "hero"),
                          ("items", "item")):
        item_path = paths[f"/api/v1/{resource}/{{{one}_id}}"]
        get, patch, delete = item_path["get"], item_path["patch"], item_path["delete"]
        assert "ETag" in get["responses"]["200"]["headers"]
        assert "ETag" in get["responses"]["304"]["headers"]
        assert "ETag" in patch["responses"]["200"]["headers"]
        assert {"412"} <= set(patch["responses"]) & set(delete["responses"])
        assert "If-None-Match" in {p["name"] for p in get["parameters"]}
        assert "If-Match" in {p["name"] for p in patch["parameters"]}
        assert "If-Match" in {p["name"] for p in delete["parameters"]}
        created = paths[f"/api/v1/{resource}"]["post"]["responses"]["201"]
        assert "ETag" in created["headers"]
