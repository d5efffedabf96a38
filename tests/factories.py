"""factory-boy factories for every model; the session is bound per test by conftest."""

from functools import lru_cache

import factory
from factory.alchemy import SQLAlchemyModelFactory

from app.core.security import hash_password
from app.models import Hero, Item, Team, User

DEFAULT_PASSWORD = "correct horse battery"
TEST_BCRYPT_ROUNDS = 4


@lru_cache
def _hashed(password: str) -> str:
    return hash_password(password, TEST_BCRYPT_ROUNDS)


class BaseFactory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session = None  # set per test by conftest's `_bind_factories`
        # Commit, as the rows would be before a real request: the test's session only
        # releases a SAVEPOINT (the outer transaction is rolled back when the test
        # ends), and a request that fails and rolls back cannot take them with it.
        sqlalchemy_session_persistence = "commit"


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


ALL_FACTORIES = (UserFactory, TeamFactory, HeroFactory, ItemFactory)
