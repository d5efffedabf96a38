"""Failed logins are throttled per account and per client address (app/api/throttle.py)."""

import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from app.api.throttle import TOO_MANY_ATTEMPTS
from app.core.config import BadSetting
from app.testing.clients import AppClient
from app.testing.factories import DEFAULT_PASSWORD, UserFactory

TOKEN = "/api/v1/auth/token"
REDIS_URL = "redis://127.0.0.1:6379/0"
PER_ACCOUNT = 3
PER_ADDRESS = 5
THROTTLED = {"detail": TOO_MANY_ATTEMPTS}
WRONG_PASSWORD = {"detail": "Incorrect username or password"}


def login(client: AppClient, username: str, password: str = "not the password"):
    return client.post(TOKEN, data={"username": username, "password": password})


# The settings the tests change: the test plugin's app does not throttle.
THROTTLING = {
    "login_rate_limit_enabled": True,
    "login_rate_limit_per_account": f"{PER_ACCOUNT}/minute",
    "login_rate_limit_per_address": f"{PER_ADDRESS}/minute",
}


@pytest.fixture
def throttled(client_with: Callable[..., AppClient]) -> Callable[..., AppClient]:
    """`throttled(**more)`: a client of a throttling app (a fresh one, fresh counts)."""
    return lambda **more: client_with(**{**THROTTLING, **more})


@pytest.fixture
def redis_storage() -> Iterator[dict[str, str]]:
    """Redis storage under a key prefix of this test's own; its keys removed at the end."""
    server = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        server.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({exc}); .ci/run starts it")
    prefix = f"heroes-test-{uuid.uuid4().hex}"
    yield {"rate_limit_storage_url": REDIS_URL, "rate_limit_key_prefix": prefix}
    for key in server.scan_iter(f"{prefix}*"):  # only ours: others share this Redis
        server.delete(key)
    server.close()


def assert_throttled(response) -> None:
    assert response.status_code == 429
    assert response.json() == THROTTLED
    assert int(response.headers["Retry-After"]) >= 1


def test_failures_past_the_account_limit_get_429_even_with_the_right_password(throttled):
    client = throttled()
    user = UserFactory()

    failures = [login(client, user.username).status_code for _ in range(PER_ACCOUNT)]

    assert failures == [401] * PER_ACCOUNT
    assert_throttled(login(client, user.username))
    assert_throttled(login(client, user.username, DEFAULT_PASSWORD))
    # The login is normalised: another spelling of the same account is the same count.
    assert_throttled(login(client, user.username.upper()))


def test_unknown_accounts_are_throttled_exactly_like_real_ones(throttled):
    client = throttled()
    user = UserFactory()
    real = [login(client, user.username) for _ in range(PER_ACCOUNT + 1)]
    other = throttled()  # fresh counts, same limits
    unknown = [login(other, "nobody-by-this-name") for _ in range(PER_ACCOUNT + 1)]

    for known, missing in zip(real, unknown, strict=True):
        assert known.status_code == missing.status_code
        assert known.json() == missing.json()
        assert set(known.headers) == set(missing.headers)
    assert_throttled(unknown[-1])


def test_a_few_typos_never_block_and_success_clears_the_account_count(throttled):
    client = throttled()
    user = UserFactory()
    statuses = []
    for _ in range(2):
        statuses += [login(client, user.email).status_code for _ in range(PER_ACCOUNT - 1)]
        statuses.append(login(client, user.email, DEFAULT_PASSWORD).status_code)

    assert statuses == ([401] * (PER_ACCOUNT - 1) + [200]) * 2


def test_failures_across_accounts_from_one_address_are_throttled(throttled):
    client = throttled()
    users = UserFactory.create_batch(PER_ADDRESS + 1)

    failures = [login(client, user.username).status_code for user in users[:PER_ADDRESS]]

    assert failures == [401] * PER_ADDRESS
    assert_throttled(login(client, users[-1].username, DEFAULT_PASSWORD))


def test_throttling_can_be_switched_off(throttled):
    client = throttled(login_rate_limit_enabled=False)
    user = UserFactory()

    answers = {
        (r.status_code, r.json()["detail"])
        for r in (login(client, user.username) for _ in range(PER_ADDRESS + 2))
    }

    assert answers == {(401, WRONG_PASSWORD["detail"])}


def test_redis_storage_counts_like_memory(throttled, redis_storage):
    client = throttled(**redis_storage)
    user = UserFactory()

    assert [login(client, user.username).status_code for _ in range(PER_ACCOUNT)] == [401] * 3
    assert_throttled(login(client, user.username))


def test_two_instances_sharing_redis_see_each_others_counts(throttled, redis_storage):
    first, second = throttled(**redis_storage), throttled(**redis_storage)
    user = UserFactory()

    statuses = [
        login((first, second)[n % 2], user.username).status_code for n in range(PER_ACCOUNT)
    ]

    assert statuses == [401] * PER_ACCOUNT
    assert_throttled(login(first, user.username))
    assert_throttled(login(second, user.username))


def test_instances_with_memory_storage_count_apart(throttled):
    first, second = throttled(), throttled()
    user = UserFactory()
    for _ in range(PER_ACCOUNT):
        login(first, user.username)

    assert_throttled(login(first, user.username))
    refused = login(second, user.username)
    assert (refused.status_code, refused.json()) == (401, WRONG_PASSWORD)


def test_unreachable_redis_fails_open_with_a_log_line(throttled, caplog):
    client = throttled(rate_limit_storage_url="redis://127.0.0.1:1/0")
    user = UserFactory()

    statuses = [login(client, user.username).status_code for _ in range(PER_ACCOUNT + 1)]
    statuses.append(login(client, user.username, DEFAULT_PASSWORD).status_code)

    assert statuses == [401] * (PER_ACCOUNT + 1) + [200]
    assert "login throttling unavailable" in caplog.text


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("rate_limit_storage_url", "postgres://nope", "RATE_LIMIT_STORAGE_URL"),
        ("login_rate_limit_per_account", "ten a minute", "LOGIN_RATE_LIMIT_PER_ACCOUNT"),
        ("login_rate_limit_per_address", "30/fortnight", "LOGIN_RATE_LIMIT_PER_ADDRESS"),
    ],
)
def test_a_bad_setting_is_a_one_line_start_up_error(throttled, field, value, named):
    with pytest.raises(BadSetting) as raised:
        throttled(**{field: value})

    message = str(raised.value)
    assert message.startswith(named) and repr(value) in message and "\n" not in message


def test_429_is_documented_with_retry_after(client):
    operation = client.get("/openapi.json").json()["paths"][TOKEN]["post"]

    assert "Retry-After" in operation["responses"]["429"]["headers"]
