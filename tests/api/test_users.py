import pytest
from sqlalchemy import func, select, update

from app.models import Item, User
from app.schemas.user import UserUpdate
from app.services import users as service
from app.testing.factories import ItemFactory, UserFactory

USERS = "/api/v1/users"
REGISTRATION_CLOSED = {"detail": "Superuser privileges required"}
USER_FIELDS = {
    "id",
    "username",
    "email",
    "full_name",
    "is_active",
    "is_superuser",
    "created_at",
    "updated_at",
}


def new_user(**overrides):
    return {
        "username": "ada",
        "email": "ada@example.com",
        "full_name": "Ada Lovelace",
        "password": "correct horse battery",
        **overrides,
    }


def assert_public_user(body):
    assert set(body) == USER_FIELDS
    for stamp in ("created_at", "updated_at"):
        assert body[stamp].endswith(("Z", "+00:00"))


def assert_no_password_hash(response, *users):
    assert "hashed_password" not in response.text
    assert "$2b$" not in response.text
    for user in users:
        assert user.hashed_password not in response.text


def count_users(db, **filters):
    stmt = select(func.count()).select_from(User).filter_by(**filters)
    return db.scalar(stmt)


def count_items(db, owner_id):
    return db.scalar(select(func.count()).select_from(Item).where(Item.owner_id == owner_id))


@pytest.fixture
def closed(client_with):
    """A client of the app with registration closed (OPEN_REGISTRATION=false)."""
    return client_with(open_registration=False)


# --- POST /users -------------------------------------------------------------------------


def test_register_returns_201_with_the_new_user(client, db):
    response = client.post(USERS, json=new_user())

    assert response.status_code == 201
    body = response.json()
    assert_public_user(body)
    assert body["username"] == "ada"
    assert body["email"] == "ada@example.com"
    assert body["full_name"] == "Ada Lovelace"
    assert body["is_active"] is True
    assert body["is_superuser"] is False
    assert isinstance(body["id"], int) and body["id"] > 0
    assert_no_password_hash(response, db.get(User, body["id"]))


def test_register_sets_location_to_the_new_user(client, user_headers):
    response = client.post(USERS, json=new_user())

    assert response.status_code == 201
    location = response.headers["Location"]
    assert location.endswith(f"/api/v1/users/{response.json()['id']}")
    assert client.get(location, headers=user_headers).json() == response.json()


def test_register_without_full_name_stores_null(client):
    body = new_user()
    del body["full_name"]

    response = client.post(USERS, json=body)

    assert response.status_code == 201
    assert response.json()["full_name"] is None


def test_register_stores_email_in_lower_case(client, db):
    response = client.post(USERS, json=new_user(email="Ada.King@Example.COM"))

    assert response.status_code == 201
    assert response.json()["email"] == "ada.king@example.com"
    assert db.get(User, response.json()["id"]).email == "ada.king@example.com"


def test_register_keeps_username_case(client, db):
    response = client.post(USERS, json=new_user(username="AdaKing"))

    assert response.status_code == 201
    assert response.json()["username"] == "AdaKing"
    assert db.get(User, response.json()["id"]).username == "AdaKing"


def test_register_hashes_the_password(client, db):
    response = client.post(USERS, json=new_user(password="correct horse battery"))

    stored = db.get(User, response.json()["id"]).hashed_password
    assert stored != "correct horse battery"
    assert stored.startswith("$2")


@pytest.mark.parametrize("taken, attempt", [("Bob", "bob"), ("bob", "BOB"), ("bob", "bob")])
def test_register_taken_username_in_any_case_is_409(client, db, taken, attempt):
    UserFactory(username=taken, email="first@example.com")

    response = client.post(USERS, json=new_user(username=attempt, email="second@example.com"))

    assert response.status_code == 409
    assert response.json() == {"detail": "Username already taken"}
    assert count_users(db) == 1


@pytest.mark.parametrize("attempt", ["bob@example.com", "Bob@Example.com", "BOB@EXAMPLE.COM"])
def test_register_taken_email_in_any_case_is_409(client, db, attempt):
    UserFactory(username="bob", email="bob@example.com")

    response = client.post(USERS, json=new_user(username="robert", email=attempt))

    assert response.status_code == 409
    assert response.json() == {"detail": "Email already registered"}
    assert count_users(db) == 1


# Letters that lower() leaves apart and Unicode case folding joins.
FOLDED_EMAILS = [
    ("straße@example.com", "STRASSE@example.com"),
    ("strasse@example.com", "Straße@example.com"),
    ("ς@example.com", "σ@example.com"),
    ("ﬀ@example.com", "FF@example.com"),
    ("é@example.com", "e\u0301@example.com"),  # composed and decomposed accent
]


@pytest.mark.parametrize("first, second", FOLDED_EMAILS)
def test_register_email_taken_under_unicode_case_folding_is_409(client, db, first, second):
    assert client.post(USERS, json=new_user(username="first", email=first)).status_code == 201

    response = client.post(USERS, json=new_user(username="second", email=second))

    assert response.status_code == 409
    assert response.json() == {"detail": "Email already registered"}
    assert count_users(db) == 1


@pytest.mark.parametrize("taken, attempt", FOLDED_EMAILS)
def test_update_to_an_email_taken_under_unicode_case_folding_is_409(
    client, db, user, user_headers, taken, attempt
):
    UserFactory(email=taken)

    response = client.patch(f"{USERS}/{user.id}", json={"email": attempt}, headers=user_headers)

    assert response.status_code == 409
    assert response.json() == {"detail": "Email already registered"}


def test_user_may_respell_their_own_email_under_case_folding(client, db, user_headers, user):
    db.execute(update(User).where(User.id == user.id).values(
        email="straße@example.com", email_key="strasse@example.com"))

    response = client.patch(
        f"{USERS}/{user.id}", json={"email": "STRASSE@example.com"}, headers=user_headers
    )

    assert response.status_code == 200
    assert response.json()["email"] == "strasse@example.com"


@pytest.mark.parametrize(
    "field, value",
    [
        ("username", "ab"),
        ("username", "a" * 51),
        ("username", "has space"),
        ("username", "at@sign"),
        ("username", "slash/"),
        ("username", ""),
        ("username", "nul\x00byte"),
        ("username", 12345),
        ("email", "not-an-email"),
        ("email", "missing-domain@"),
        ("email", ""),
        ("email", None),
        ("password", "a" * 7),
        ("password", "a" * 129),
        ("password", 12345678),
        ("password", None),
        ("full_name", "a" * 101),
        ("full_name", "nul\x00byte"),
        ("full_name", 42),
    ],
)
def test_register_with_invalid_field_is_422(client, db, field, value):
    response = client.post(USERS, json=new_user(**{field: value}))

    assert response.status_code == 422
    assert field in {loc for error in response.json()["detail"] for loc in error["loc"]}
    assert count_users(db) == 0


@pytest.mark.parametrize("field", ["username", "email", "password"])
def test_register_missing_required_field_is_422(client, db, field):
    body = new_user()
    del body[field]

    response = client.post(USERS, json=body)

    assert response.status_code == 422
    assert count_users(db) == 0


@pytest.mark.parametrize(
    "extra", [{"nickname": "ada"}, {"is_superuser": True}, {"is_active": False}, {"id": 7}]
)
def test_register_with_unknown_field_is_422(client, db, extra):
    response = client.post(USERS, json=new_user(**extra))

    assert response.status_code == 422
    assert count_users(db) == 0


@pytest.mark.parametrize(
    ("payload", "error_type"),
    [("not json", "json_invalid"), ("[]", "model_attributes_type"),
     ('"ada"', "model_attributes_type"), ("{", "json_invalid")],
)
def test_register_with_a_body_that_is_not_a_user_object_is_422(client, db, payload, error_type):
    response = client.post(USERS, content=payload, headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["type"] == error_type
    assert count_users(db) == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"username": "abc"},
        {"username": "a" * 50},
        {"username": "A.b_c-9"},
        {"password": "a" * 8},
        {"password": "a" * 128},
        {"full_name": "a" * 100},
        {"full_name": None},
    ],
)
def test_register_accepts_boundary_values(client, db, overrides):
    sent = new_user(**overrides)

    response = client.post(USERS, json=sent)

    assert response.status_code == 201
    assert (response.json()["username"], response.json()["full_name"]) == (
        sent["username"], sent["full_name"]
    )
    assert count_users(db, username=sent["username"]) == 1


def test_register_rejection_does_not_echo_the_password(client):
    response = client.post(USERS, json=new_user(password="short12"))

    assert response.status_code == 422
    assert "short12" not in response.text
    [error] = response.json()["detail"]
    assert (error["loc"], error["input"]) == (["body", "password"], "[redacted]")


def test_a_missing_password_is_not_reported_as_a_redacted_one(client):
    body = {"username": "ada", "email": "ada@example.com"}

    response = client.post(USERS, json=body)

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"type": "missing", "loc": ["body", "password"], "msg": "Field required", "input": body}
    ]


def test_closed_registration_refuses_anonymous_with_401(closed, db):
    response = closed.post(USERS, json=new_user())

    assert (response.status_code, response.json()) == (401, {"detail": "Not authenticated"})
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert count_users(db, username="ada") == 0


def test_closed_registration_refuses_a_normal_user_with_403(closed, db, user_headers):
    response = closed.post(USERS, json=new_user(), headers=user_headers)

    assert (response.status_code, response.json()) == (403, REGISTRATION_CLOSED)
    assert count_users(db, username="ada") == 0


def test_closed_registration_lets_a_superuser_register_users(closed, db, superuser_headers):
    response = closed.post(USERS, json=new_user(), headers=superuser_headers)

    assert response.status_code == 201
    assert response.json()["is_superuser"] is False
    assert count_users(db, username="ada") == 1


# --- GET /users --------------------------------------------------------------------------


def test_list_users_returns_everyone_ordered_by_id(client, user, user_headers):
    others = [UserFactory(), UserFactory(is_active=False)]

    response = client.get(USERS, headers=user_headers)

    assert response.status_code == 200
    assert [u["id"] for u in response.json()] == sorted([user.id] + [o.id for o in others])
    assert response.headers["X-Total-Count"] == "3"
    for body in response.json():
        assert_public_user(body)
    assert_no_password_hash(response, user, *others)


@pytest.mark.parametrize("flag, expected", [("true", True), ("false", False)])
def test_list_users_filters_by_is_active(client, user, user_headers, flag, expected):
    inactive = [UserFactory(is_active=False), UserFactory(is_active=False)]
    active = [user, UserFactory()]
    wanted = active if expected else inactive

    response = client.get(USERS, params={"is_active": flag}, headers=user_headers)

    assert response.status_code == 200
    assert [u["id"] for u in response.json()] == sorted(u.id for u in wanted)
    assert {u["is_active"] for u in response.json()} == {expected}
    assert response.headers["X-Total-Count"] == "2"


def test_list_users_total_count_ignores_paging(client, user_headers):
    UserFactory.create_batch(4)

    response = client.get(USERS, params={"limit": 2}, headers=user_headers)

    assert response.status_code == 200
    assert len(response.json()) == 2
    assert response.headers["X-Total-Count"] == "5"


def test_list_users_with_bad_is_active_value_is_422(client, user_headers):
    response = client.get(USERS, params={"is_active": "maybe"}, headers=user_headers)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["query", "is_active"], "bool_parsing")


def test_list_users_needs_a_token(client, user):
    response = client.get(USERS)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


# --- GET /users/me and /users/{id} -------------------------------------------------------


def test_read_me_returns_the_caller(client, user, user_headers):
    UserFactory()

    response = client.get(f"{USERS}/me", headers=user_headers)

    assert response.status_code == 200
    body = response.json()
    assert_public_user(body)
    assert body["id"] == user.id
    assert body["username"] == user.username
    assert body["email"] == user.email
    assert_no_password_hash(response, user)


def test_read_me_needs_a_token(client):
    response = client.get(f"{USERS}/me")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_read_user_by_id(client, user_headers):
    other = UserFactory(username="Grace", full_name="Grace Hopper")

    response = client.get(f"{USERS}/{other.id}", headers=user_headers)

    assert response.status_code == 200
    body = response.json()
    assert_public_user(body)
    assert body["id"] == other.id
    assert body["username"] == "Grace"
    assert body["full_name"] == "Grace Hopper"
    assert_no_password_hash(response, other)


def test_read_missing_user_is_404(client, user, user_headers):
    response = client.get(f"{USERS}/{user.id + 1000}", headers=user_headers)

    assert response.status_code == 404
    assert response.json() == {"detail": "User not found"}


# --- PATCH /users/{id} -------------------------------------------------------------------


def test_user_updates_themself(client, db, user, user_headers):
    response = client.patch(
        f"{USERS}/{user.id}",
        json={"username": "NewName", "email": "New@Example.com", "full_name": "New Name"},
        headers=user_headers,
    )

    assert response.status_code == 200
    body = response.json()
    assert_public_user(body)
    assert (body["username"], body["email"], body["full_name"]) == (
        "NewName",
        "new@example.com",
        "New Name",
    )
    db.refresh(user)
    assert (user.username, user.email, user.full_name) == ("NewName", "new@example.com", "New Name")
    assert_no_password_hash(response, user)


def test_update_changes_only_the_fields_sent(client, user, user_headers):
    before = (user.username, user.email, user.full_name)

    response = client.patch(f"{USERS}/{user.id}", json={}, headers=user_headers)

    assert response.status_code == 200
    body = response.json()
    assert (body["username"], body["email"], body["full_name"]) == before


def test_user_cannot_update_another_user(client, db, user_headers):
    other = UserFactory(full_name="Original")

    response = client.patch(
        f"{USERS}/{other.id}", json={"full_name": "Hacked"}, headers=user_headers
    )

    assert response.status_code == 403
    db.refresh(other)
    assert other.full_name == "Original"


def test_superuser_updates_another_user(client, db, superuser_headers):
    other = UserFactory(full_name="Original")

    response = client.patch(
        f"{USERS}/{other.id}", json={"full_name": "Renamed"}, headers=superuser_headers
    )

    assert response.status_code == 200
    assert response.json()["full_name"] == "Renamed"
    db.refresh(other)
    assert other.full_name == "Renamed"


def test_update_unknown_user_is_404(client, user, superuser_headers):
    response = client.patch(
        f"{USERS}/{user.id + 1000}", json={"full_name": "x"}, headers=superuser_headers
    )

    assert (response.status_code, response.json()) == (404, {"detail": "User not found"})


@pytest.mark.parametrize("field", ["is_active", "is_superuser"])
@pytest.mark.parametrize("value", [True, False])
def test_user_cannot_change_own_flags(client, db, user, user_headers, field, value):
    before = getattr(user, field)

    response = client.patch(f"{USERS}/{user.id}", json={field: value}, headers=user_headers)

    assert response.status_code == 403
    db.refresh(user)
    assert getattr(user, field) == before


def test_superuser_deactivates_a_user(client, db, superuser_headers):
    other = UserFactory()

    response = client.patch(
        f"{USERS}/{other.id}", json={"is_active": False}, headers=superuser_headers
    )

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    db.refresh(other)
    assert other.is_active is False


def test_superuser_promotes_a_user(client, db, superuser_headers):
    other = UserFactory()

    response = client.patch(
        f"{USERS}/{other.id}", json={"is_superuser": True}, headers=superuser_headers
    )

    assert response.status_code == 200
    assert response.json()["is_superuser"] is True
    db.refresh(other)
    assert other.is_superuser is True


@pytest.mark.parametrize("field", ["username", "email", "password", "is_active", "is_superuser"])
def test_update_with_null_for_a_required_field_is_422(client, db, user, superuser_headers, field):
    before = (user.username, user.email, user.hashed_password, user.is_active, user.is_superuser)

    response = client.patch(f"{USERS}/{user.id}", json={field: None}, headers=superuser_headers)

    assert response.status_code == 422
    db.refresh(user)
    assert (
        user.username,
        user.email,
        user.hashed_password,
        user.is_active,
        user.is_superuser,
    ) == before


def test_update_with_null_full_name_clears_it(client, db, user, user_headers):
    user.full_name = "Someone"
    db.flush()

    response = client.patch(f"{USERS}/{user.id}", json={"full_name": None}, headers=user_headers)

    assert response.status_code == 200
    assert response.json()["full_name"] is None
    db.refresh(user)
    assert user.full_name is None


@pytest.mark.parametrize(
    "body",
    [
        {"username": "ab"},
        {"username": "bad name"},
        {"email": "nope"},
        {"password": "a" * 7},
        {"password": "a" * 129},
        {"full_name": "a" * 101},
        {"hashed_password": "x"},
        {"id": 999},
        {"is_active": "false"},
    ],
)
def test_update_with_invalid_body_is_422(client, db, user, superuser_headers, body):
    before = (user.username, user.email, user.full_name, user.hashed_password, user.is_active)

    response = client.patch(f"{USERS}/{user.id}", json=body, headers=superuser_headers)

    assert response.status_code == 422
    [field] = body
    assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]
    db.refresh(user)
    assert (user.username, user.email, user.full_name, user.hashed_password,
            user.is_active) == before


@pytest.mark.parametrize("taken", ["Bob", "bob", "BOB"])
def test_update_to_a_taken_username_is_409(client, db, user, user_headers, taken):
    UserFactory(username="Bob")
    before = user.username

    response = client.patch(f"{USERS}/{user.id}", json={"username": taken}, headers=user_headers)

    assert response.status_code == 409
    assert response.json() == {"detail": "Username already taken"}
    db.refresh(user)
    assert user.username == before


@pytest.mark.parametrize("taken", ["bob@example.com", "BOB@Example.com"])
def test_update_to_a_taken_email_is_409(client, db, user, user_headers, taken):
    UserFactory(email="bob@example.com")
    before = user.email

    response = client.patch(f"{USERS}/{user.id}", json={"email": taken}, headers=user_headers)

    assert response.status_code == 409
    assert response.json() == {"detail": "Email already registered"}
    db.refresh(user)
    assert user.email == before


def test_user_may_change_the_case_of_their_own_username(client, db, user_headers, user):
    response = client.patch(
        f"{USERS}/{user.id}", json={"username": user.username.upper()}, headers=user_headers
    )

    assert response.status_code == 200
    assert response.json()["username"] == user.username.upper()


def test_update_does_not_return_the_new_password(client, user, user_headers):
    response = client.patch(
        f"{USERS}/{user.id}", json={"password": "brand new secret"}, headers=user_headers
    )

    assert response.status_code == 200
    assert "brand new secret" not in response.text
    assert_no_password_hash(response, user)


def test_demoted_superuser_loses_powers_at_once(client, db, superuser, superuser_headers):
    other = UserFactory(full_name="Original")
    superuser.is_superuser = False
    db.flush()

    response = client.patch(
        f"{USERS}/{other.id}", json={"full_name": "Renamed"}, headers=superuser_headers
    )

    assert response.status_code == 403
    db.refresh(other)
    assert other.full_name == "Original"


def test_superuser_demoted_through_the_api_cannot_register_users_when_closed(
    closed, db, superuser, auth_headers
):
    demoter = UserFactory(is_superuser=True)
    demoted = closed.patch(
        f"{USERS}/{superuser.id}", json={"is_superuser": False}, headers=auth_headers(demoter)
    )
    assert demoted.json()["is_superuser"] is False

    response = closed.post(USERS, json=new_user(), headers=auth_headers(superuser))

    assert (response.status_code, response.json()) == (403, REGISTRATION_CLOSED)
    assert count_users(db, username="ada") == 0


# --- DELETE /users/{id} ------------------------------------------------------------------


def test_user_deletes_themself(client, db, user, user_headers):
    user_id = user.id

    response = client.delete(f"{USERS}/{user_id}", headers=user_headers)

    assert response.status_code == 204
    assert response.content == b""
    assert count_users(db, id=user_id) == 0


def test_superuser_deletes_a_user(client, db, superuser_headers):
    other_id = UserFactory().id

    response = client.delete(f"{USERS}/{other_id}", headers=superuser_headers)

    assert response.status_code == 204
    assert count_users(db, id=other_id) == 0


def test_user_cannot_delete_another_user(client, db, user_headers):
    other_id = UserFactory().id

    response = client.delete(f"{USERS}/{other_id}", headers=user_headers)

    assert response.status_code == 403
    assert count_users(db, id=other_id) == 1


def test_delete_unknown_user_is_404(client, user, superuser_headers):
    response = client.delete(f"{USERS}/{user.id + 1000}", headers=superuser_headers)

    assert (response.status_code, response.json()) == (404, {"detail": "User not found"})


def test_deleting_a_user_removes_their_items(client, db, user, user_headers):
    ItemFactory.create_batch(3, owner=user)
    bystander = UserFactory()
    ItemFactory(owner=bystander)
    user_id = user.id

    response = client.delete(f"{USERS}/{user_id}", headers=user_headers)

    assert response.status_code == 204
    assert count_items(db, user_id) == 0
    assert count_items(db, bystander.id) == 1


def test_deleted_user_is_gone_from_reads(client, db, user, superuser_headers):
    user_id = user.id
    assert client.delete(f"{USERS}/{user_id}", headers=superuser_headers).status_code == 204

    response = client.get(f"{USERS}/{user_id}", headers=superuser_headers)

    assert response.status_code == 404


def test_the_users_service_lets_a_superuser_change_and_remove_anyone(db):
    actor, other = UserFactory(is_superuser=True), UserFactory()

    service.update_user(db=db, actor=actor, user_id=other.id,
                        user_in=UserUpdate(full_name="Renamed"), bcrypt_rounds=4)
    service.delete_user(db=db, actor=actor, user_id=other.id)

    assert db.get(User, other.id) is None
