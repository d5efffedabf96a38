# factory-boy ships py.typed but leaves its API untyped; its declarations are checked
# by the tests that use them.
# mypy: disable-error-code="attr-defined, no-untyped-call"
"""factory-boy factories for every model, writing through the test's session.

The plugin binds that session while a test that uses the database runs (the `db`
fixture, or anything built on it: `client`, `user`, ...) and unbinds it when the
test ends. A factory of your own subclasses `BaseFactory` to get the same.
"""

from datetime import timedelta
from functools import lru_cache
from typing import Any

import factory
from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy.orm import Session

from app.core.security import hash_password, new_opaque_token, opaque_token_hash
from app.db.base import utcnow
from app.models import Hero, Item, PasswordResetToken, RefreshToken, Team, User

DEFAULT_PASSWORD = "correct horse battery"
TEST_BCRYPT_ROUNDS = 4


@lru_cache
def _hashed(password: str) -> str:
    return hash_password(password, TEST_BCRYPT_ROUNDS)


class NoTestSession(RuntimeError):
    """A factory was used in a test that does not use the database."""


_session: Session | None = None


def bind_session(session: Session) -> None:
    """Make every factory write through `session` (the plugin does, per test)."""
    global _session
    _session = session


def unbind_session() -> None:
    global _session
    _session = None


class BaseFactory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        # Commit, as the rows would be before a real request: the test's session only
        # releases a SAVEPOINT (the outer transaction is rolled back when the test
        # ends), and a request that fails and rolls back cannot take them with it.
        sqlalchemy_session_persistence = "commit"

    @classmethod
    def _create(cls, model_class: type[Any], *args: Any, **kwargs: Any) -> Any:
        # The session of the test running now, never one kept from an earlier test.
        if _session is None:
            raise NoTestSession(
                f"{cls.__name__} needs the test's database session: request the `db` "
                f"fixture in the test, or in the fixture that uses {cls.__name__}"
            )
        if cls._meta.sqlalchemy_get_or_create:
            return cls._get_or_create(model_class, _session, args, kwargs)
        return cls._save(model_class, _session, args, kwargs)


class UserFactory(BaseFactory):
    class Meta:
        model = User

    class Params:
        password = DEFAULT_PASSWORD

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username.lower()}@example.com")
    full_name = factory.Faker("name")
    hashed_password = factory.LazyAttribute(lambda o: _hashed(o.password))
    is_active = True
    is_superuser = False


class TeamFactory(BaseFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    headquarters = factory.Faker("city")


class HeroFactory(BaseFactory):
    class Meta:
        model = Hero

    name = factory.Sequence(lambda n: f"Hero {n}")
    secret_name = factory.Faker("name")
    age = factory.Faker("random_int", min=16, max=90)
    team = None


class ItemFactory(BaseFactory):
    class Meta:
        model = Item

    class Params:
        # Item maps no relationship to its owner; `owner=user` is a shorthand for owner_id.
        owner = factory.SubFactory(UserFactory)

    title = factory.Sequence(lambda n: f"Item {n}")
    description = factory.Faker("sentence")
    owner_id = factory.LazyAttribute(lambda o: o.owner.id)


class RefreshTokenFactory(BaseFactory):
    """A refresh token of `user`; pass `token=` to know it in clear (only its hash is kept),
    `family=` to add it to a login's family, `expires_at=` in the past for an expired one."""

    class Meta:
        model = RefreshToken

    class Params:
        user = factory.SubFactory(UserFactory)
        token = factory.LazyFunction(new_opaque_token)

    user_id = factory.LazyAttribute(lambda o: o.user.id)
    family = factory.Sequence(lambda n: f"family{n:026d}")
    token_hash = factory.LazyAttribute(lambda o: opaque_token_hash(o.token))
    expires_at = factory.LazyFunction(lambda: utcnow() + timedelta(days=14))
    spent_at = None
    revoked_at = None


class PasswordResetTokenFactory(BaseFactory):
    """A password reset token of `user`; pass `token=` to know it in clear."""

    class Meta:
        model = PasswordResetToken

    class Params:
        user = factory.SubFactory(UserFactory)
        token = factory.LazyFunction(new_opaque_token)

    user_id = factory.LazyAttribute(lambda o: o.user.id)
    token_hash = factory.LazyAttribute(lambda o: opaque_token_hash(o.token))
    expires_at = factory.LazyFunction(lambda: utcnow() + timedelta(minutes=30))
    spent_at = None
