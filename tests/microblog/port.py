"""Flask-SQLAlchemy's microblog, ported: the worked example that
docs/migrating-from-legacy-sqlalchemy.md quotes for the idioms its other sections do
not cover (tests/microblog/test_port.py runs every one of them).

Its own declarative base, so importing it adds no table to the project's models; a
team porting its application declares these on `app.db.base.Base` instead.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKey,
    MetaData,
    Select,
    String,
    Table,
    event,
    insert,
    select,
    union,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    WriteOnlyMapped,
    aliased,
    mapped_column,
    relationship,
    sessionmaker,
)

from app.db.base import NAMING_CONVENTION, UTCDateTime, utcnow
from app.services.commit import mapped_errors
from app.services.errors import Conflict
from app.services.paging import Pagination, paginate


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# db.Table(...) becomes a Table on the models' metadata; its primary key over both
# columns stores a pair once (the legacy table had none, and held duplicates).
followers = Table(
    "followers",
    Base.metadata,
    Column("follower_id", ForeignKey("user.id"), primary_key=True),
    Column("followed_id", ForeignKey("user.id"), primary_key=True),
)


class User(Base):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # lazy="dynamic" becomes WriteOnlyMapped: nothing loads by itself; read with
    # db.scalars(user.posts.select()), add with user.posts.add(post).
    posts: WriteOnlyMapped["Post"] = relationship(back_populates="author")
    following: WriteOnlyMapped["User"] = relationship(
        secondary=followers,
        primaryjoin=(followers.c.follower_id == id),
        secondaryjoin=(followers.c.followed_id == id),
        back_populates="followers",
    )
    followers: WriteOnlyMapped["User"] = relationship(
        secondary=followers,
        primaryjoin=(followers.c.followed_id == id),
        secondaryjoin=(followers.c.follower_id == id),
        back_populates="following",
    )


class Post(Base):
    __tablename__ = "post"

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(String(140))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, index=True, default=utcnow)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    author: Mapped[User] = relationship(back_populates="posts", lazy="raise_on_sql")


ALREADY_FOLLOWING = "already following"


def follow(db: Session, user: User, other: User) -> None:
    """A Core INSERT fails when executed, before commit() could map it: mapped_errors
    translates it the same way, by the key's one name on every database."""
    with mapped_errors(db, {"pk_followers": Conflict(ALREADY_FOLLOWING)}, metadata=Base.metadata):
        db.execute(insert(followers).values(follower_id=user.id, followed_id=other.id))
        db.commit()


def is_following(db: Session, user: User, other: User) -> bool:
    stmt = user.following.select().where(User.id == other.id)
    return db.scalars(stmt).first() is not None


def followed_posts(user: User) -> Select[tuple[Post]]:
    """Posts of the users `user` follows, and their own, newest first."""
    followed = (
        select(Post)
        .join(followers, followers.c.followed_id == Post.user_id)
        .where(followers.c.follower_id == user.id)
    )
    own = select(Post).where(Post.user_id == user.id)
    timeline = aliased(Post, union(followed, own).subquery())
    return select(timeline).order_by(timeline.timestamp.desc(), timeline.id.desc())


def timeline_page(db: Session, user: User, page: int, per_page: int) -> Pagination[Post]:
    return paginate(db, followed_posts(user), page=page, per_page=per_page)


def _author_seen_when_posting(session: Session, flush_context: Any, instances: Any) -> None:
    for obj in session.new:
        if isinstance(obj, Post) and obj.author is not None:
            obj.author.last_seen = utcnow()


def listen_for_posts(sessions: sessionmaker[Session]) -> None:
    """db.event.listen(db.session, ...) becomes a listener on the sessionmaker the app
    opened (app.state.databases.SessionLocal): every session it makes, none other."""
    event.listen(sessions, "before_flush", _author_seen_when_posting)
