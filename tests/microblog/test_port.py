"""The ported microblog (tests/microblog/port.py) does what the legacy code did."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.drivers import sync_url
from app.services.errors import Conflict
from app.testing.databases import fresh_database
from tests.microblog.port import (
    ALREADY_FOLLOWING,
    Base,
    Post,
    User,
    follow,
    followed_posts,
    followers,
    is_following,
    listen_for_posts,
    timeline_page,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:
    with fresh_database(tmp_path, "microblog") as url:
        engine = create_engine(sync_url(url))
        Base.metadata.create_all(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@pytest.fixture
def db(sessions) -> Iterator[Session]:
    with sessions() as session:
        yield session


@pytest.fixture
def people(db) -> dict[str, User]:
    users = {name: User(username=name) for name in ("miguel", "susan", "ann")}
    db.add_all(users.values())
    db.commit()
    return users


def _post(db: Session, author: User, body: str, minutes: int) -> Post:
    post = Post(body=body, author=author, timestamp=T0 + timedelta(minutes=minutes))
    db.add(post)
    db.commit()
    return post


def test_following_is_self_referential_and_both_ways(db, people):
    miguel, susan = people["miguel"], people["susan"]

    follow(db, miguel, susan)

    assert is_following(db, miguel, susan)
    assert not is_following(db, susan, miguel)
    assert db.scalars(susan.followers.select()).all() == [miguel]


def test_following_twice_is_a_conflict_not_a_500(db, people):
    follow(db, people["miguel"], people["susan"])

    with pytest.raises(Conflict, match=f"^{ALREADY_FOLLOWING}$"):
        follow(db, people["miguel"], people["susan"])
    assert db.scalar(select(func.count()).select_from(followers)) == 1


def test_write_only_posts_are_added_and_read_by_statement(db, people):
    miguel = people["miguel"]
    miguel.posts.add(Post(body="hello", timestamp=T0))
    db.commit()

    assert [p.body for p in db.scalars(miguel.posts.select())] == ["hello"]


def test_the_union_timeline_is_followed_and_own_posts_newest_first(db, people):
    miguel, susan, ann = people["miguel"], people["susan"], people["ann"]
    follow(db, miguel, susan)
    _post(db, susan, "susan 1", 1)
    _post(db, miguel, "miguel 2", 2)
    _post(db, ann, "ann 3", 3)  # not followed
    _post(db, susan, "susan 4", 4)

    assert [p.body for p in db.scalars(followed_posts(miguel))] == [
        "susan 4", "miguel 2", "susan 1"
    ]


def test_paginate_pages_newest_first_with_has_next_and_next_num(db, people):
    miguel = people["miguel"]
    for n in range(5):
        _post(db, miguel, f"post {n}", n)

    first = timeline_page(db, miguel, page=1, per_page=2)
    last = timeline_page(db, miguel, page=3, per_page=2)

    assert [p.body for p in first.items] == ["post 4", "post 3"]
    assert (first.has_next, first.next_num, first.has_prev, first.total) == (True, 2, False, 5)
    assert [p.body for p in last.items] == ["post 0"]
    assert (last.has_next, last.next_num, last.prev_num) == (False, None, 2)


def test_a_session_listener_on_the_sessionmaker_sees_every_flush(sessions, people):
    listen_for_posts(sessions)
    with sessions() as db:
        miguel = db.get(User, people["miguel"].id)
        before = miguel.last_seen
        db.add(Post(body="hi", author=miguel))
        db.commit()

        assert miguel.last_seen > before
