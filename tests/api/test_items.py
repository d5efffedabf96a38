from datetime import datetime

import pytest

from app.testing.factories import ItemFactory, UserFactory

ITEMS = "/api/v1/items"
MISSING_ID = 2**62
ITEM_FIELDS = {"id", "title", "description", "owner_id", "created_at", "updated_at"}


def is_utc_timestamp(value: str) -> bool:
    parsed = datetime.fromisoformat(value)
    return value.endswith(("Z", "+00:00")) and parsed.utcoffset().total_seconds() == 0


def listed_ids(response) -> list[int]:
    assert response.status_code == 200
    return [item["id"] for item in response.json()]


def test_create_item_is_owned_by_the_caller(client, user, user_headers):
    response = client.post(
        ITEMS, json={"title": "Shield", "description": "Vibranium, round"}, headers=user_headers
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == ITEM_FIELDS
    assert (body["title"], body["description"], body["owner_id"]) == (
        "Shield",
        "Vibranium, round",
        user.id,
    )
    assert is_utc_timestamp(body["created_at"]) and is_utc_timestamp(body["updated_at"])
    assert response.headers["Location"].endswith(f"{ITEMS}/{body['id']}")


def test_create_item_cannot_choose_its_owner(client, user_headers):
    someone_else = UserFactory()

    response = client.post(
        ITEMS, json={"title": "Gift", "owner_id": someone_else.id}, headers=user_headers
    )

    assert response.status_code == 422
    assert client.get(ITEMS, headers=user_headers).json() == []


def test_create_item_without_description(client, user_headers):
    response = client.post(ITEMS, json={"title": "Hammer"}, headers=user_headers)

    assert response.status_code == 201
    assert response.json()["description"] is None


def test_created_item_can_be_read_at_its_location(client, user_headers):
    created = client.post(ITEMS, json={"title": "Cape"}, headers=user_headers)

    response = client.get(created.headers["Location"], headers=user_headers)

    assert response.status_code == 200
    assert response.json() == created.json()


def test_create_item_accepts_longest_title_and_description(client, user_headers):
    response = client.post(
        ITEMS, json={"title": "t" * 200, "description": "d" * 2000}, headers=user_headers
    )

    assert response.status_code == 201
    assert response.json()["title"] == "t" * 200
    assert response.json()["description"] == "d" * 2000


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"title": "t" * 201}, id="title-201-chars"),
        pytest.param({"title": ""}, id="empty-title"),
        pytest.param({"title": "Cape", "description": "d" * 2001}, id="description-2001-chars"),
        pytest.param({}, id="missing-title"),
        pytest.param({"title": None}, id="null-title"),
        pytest.param({"title": 7}, id="title-not-a-string"),
        pytest.param({"title": "Cape", "colour": "red"}, id="unknown-field"),
    ],
)
def test_create_item_with_invalid_body_is_422(client, user_headers, body):
    response = client.post(ITEMS, json=body, headers=user_headers)

    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)
    assert client.get(ITEMS, headers=user_headers).json() == []


def test_user_lists_only_their_own_items(client, user, user_headers):
    other = UserFactory()
    mine = [ItemFactory(owner=user), ItemFactory(owner=user)]
    ItemFactory(owner=other)
    ItemFactory(owner=other)
    ItemFactory(owner=other)

    response = client.get(ITEMS, headers=user_headers)

    assert listed_ids(response) == [item.id for item in mine]
    assert response.headers["X-Total-Count"] == "2"


def test_owner_id_filter_is_ignored_for_a_normal_user(client, user, user_headers):
    other = UserFactory()
    mine = ItemFactory(owner=user)
    ItemFactory(owner=other)

    response = client.get(ITEMS, params={"owner_id": other.id}, headers=user_headers)

    assert listed_ids(response) == [mine.id]
    assert response.headers["X-Total-Count"] == "1"


def test_superuser_lists_everyones_items(client, superuser, superuser_headers):
    alice, bob = UserFactory(), UserFactory()
    items = [ItemFactory(owner=alice), ItemFactory(owner=bob), ItemFactory(owner=superuser)]

    response = client.get(ITEMS, headers=superuser_headers)

    assert listed_ids(response) == [item.id for item in items]
    assert response.headers["X-Total-Count"] == "3"


def test_superuser_filters_items_by_owner(client, superuser_headers):
    alice, bob = UserFactory(), UserFactory()
    alices = [ItemFactory(owner=alice), ItemFactory(owner=alice)]
    ItemFactory(owner=bob)

    response = client.get(ITEMS, params={"owner_id": alice.id}, headers=superuser_headers)

    assert listed_ids(response) == [item.id for item in alices]
    assert response.headers["X-Total-Count"] == "2"


def test_get_own_item(client, user, user_headers):
    item = ItemFactory(owner=user, title="Shield", description=None)

    response = client.get(f"{ITEMS}/{item.id}", headers=user_headers)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == ITEM_FIELDS
    assert (body["id"], body["title"], body["description"], body["owner_id"]) == (
        item.id,
        "Shield",
        None,
        user.id,
    )


@pytest.mark.parametrize(
    "method, body",
    [("GET", None), ("PATCH", {"title": "Stolen", "description": "mine now"}), ("DELETE", None)],
)
def test_someone_elses_item_is_404_and_left_unchanged(
    client, auth_headers, user_headers, method, body
):
    owner = UserFactory()
    item = ItemFactory(owner=owner, title="Heirloom", description="Grandma's")

    response = client.request(method, f"{ITEMS}/{item.id}", json=body, headers=user_headers)

    assert response.status_code == 404
    assert response.json()["detail"].endswith("not found")
    as_owner = client.get(f"{ITEMS}/{item.id}", headers=auth_headers(owner))
    assert as_owner.status_code == 200
    assert (as_owner.json()["title"], as_owner.json()["description"]) == ("Heirloom", "Grandma's")


def test_someone_elses_item_looks_like_a_missing_one(client, user_headers):
    item = ItemFactory(owner=UserFactory())

    response = client.get(f"{ITEMS}/{item.id}", headers=user_headers)

    missing = client.get(f"{ITEMS}/{MISSING_ID}", headers=user_headers)
    assert (response.status_code, response.json()) == (missing.status_code, missing.json())


def test_superuser_changes_someone_elses_item(client, auth_headers, superuser_headers):
    owner = UserFactory()
    item = ItemFactory(owner=owner, title="Old")

    response = client.patch(f"{ITEMS}/{item.id}", json={"title": "New"}, headers=superuser_headers)

    assert response.status_code == 200
    assert (response.json()["title"], response.json()["owner_id"]) == ("New", owner.id)
    assert client.get(f"{ITEMS}/{item.id}", headers=auth_headers(owner)).json()["title"] == "New"


def test_superuser_deletes_someone_elses_item(client, auth_headers, superuser_headers):
    owner = UserFactory()
    item = ItemFactory(owner=owner)

    response = client.delete(f"{ITEMS}/{item.id}", headers=superuser_headers)

    assert response.status_code == 204
    assert client.get(f"{ITEMS}/{item.id}", headers=auth_headers(owner)).status_code == 404


def test_update_own_item_changes_only_sent_fields(client, user, user_headers):
    item = ItemFactory(owner=user, title="Shield", description="Round")

    response = client.patch(
        f"{ITEMS}/{item.id}", json={"title": "Big Shield"}, headers=user_headers
    )

    assert response.status_code == 200
    assert (response.json()["title"], response.json()["description"]) == ("Big Shield", "Round")
    assert response.json()["owner_id"] == user.id


def test_update_item_description_to_null(client, user, user_headers):
    item = ItemFactory(owner=user, description="Round")

    response = client.patch(f"{ITEMS}/{item.id}", json={"description": None}, headers=user_headers)

    assert response.status_code == 200
    assert response.json()["description"] is None
    assert client.get(f"{ITEMS}/{item.id}", headers=user_headers).json()["description"] is None


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"title": None}, id="null-title"),
        pytest.param({"title": "t" * 201}, id="title-201-chars"),
        pytest.param({"description": "d" * 2001}, id="description-2001-chars"),
        pytest.param({"owner_id": 1}, id="owner-id"),
    ],
)
def test_update_item_with_invalid_body_is_422(client, user, user_headers, body):
    item = ItemFactory(owner=user, title="Shield", description="Round")

    response = client.patch(f"{ITEMS}/{item.id}", json=body, headers=user_headers)

    assert response.status_code == 422
    reread = client.get(f"{ITEMS}/{item.id}", headers=user_headers).json()
    assert (reread["title"], reread["description"], reread["owner_id"]) == (
        "Shield",
        "Round",
        user.id,
    )


def test_delete_own_item_is_204_and_item_is_gone(client, user, user_headers):
    item = ItemFactory(owner=user)

    response = client.delete(f"{ITEMS}/{item.id}", headers=user_headers)

    assert response.status_code == 204
    assert response.content == b""
    assert client.get(f"{ITEMS}/{item.id}", headers=user_headers).status_code == 404


@pytest.mark.parametrize(
    "method, body",
    [("GET", None), ("PATCH", {"title": "Anything"}), ("DELETE", None)],
)
def test_missing_item_is_404_even_for_a_superuser(client, superuser_headers, method, body):
    response = client.request(method, f"{ITEMS}/{MISSING_ID}", json=body, headers=superuser_headers)

    assert response.status_code == 404
    assert response.json()["detail"].endswith("not found")


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", ITEMS, {"title": "Intruder"}),
        ("GET", ITEMS, None),
        ("GET", f"{ITEMS}/{{id}}", None),
        ("PATCH", f"{ITEMS}/{{id}}", {"title": "Renamed"}),
        ("DELETE", f"{ITEMS}/{{id}}", None),
    ],
)
def test_items_need_a_token(client, user, user_headers, method, path, body):
    item = ItemFactory(owner=user, title="Original")

    response = client.request(method, path.format(id=item.id), json=body)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    listed = client.get(ITEMS, headers=user_headers).json()
    assert [(i["id"], i["title"]) for i in listed] == [(item.id, "Original")]
