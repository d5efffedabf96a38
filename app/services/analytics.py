"""Reporting: counts computed by the database, two statements whatever the data size,
both reading one snapshot."""

from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, func, select
from sqlalchemy.orm import Session

from app.models import Hero, Item, Team, User
from app.schemas.analytics import Summary, TeamHeroCount, UserCounts


def _count(model: type[Any], *where: ColumnElement[bool]) -> ScalarSelect[int]:
    return select(func.count()).select_from(model).where(*where).scalar_subquery()


def _one_snapshot(db: Session) -> None:
    """Make the session's transaction read one snapshot of the database.

    PostgreSQL's default, READ COMMITTED, gives each statement a snapshot of its
    own: a hero added or a team removed between the two statements made totals and
    per-team rows disagree. REPEATABLE READ reads one snapshot for the whole
    transaction; the analytics connections are READ ONLY already (their
    default_transaction_read_only), so it can never fail to serialise. (Not
    `postgresql_readonly`: resetting it on check-in makes psycopg2 begin READ
    WRITE, overriding that default.) SQLite needs nothing: a read transaction
    already sees one state of the file."""
    if db.get_bind().dialect.name == "postgresql":
        db.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def summary(db: Session) -> Summary:
    """Totals and heroes per team (teams with none included), from aggregate queries
    that agree with each other: teams == len(heroes_per_team) and heroes ==
    heroes_without_team + their sum, whatever is written meanwhile."""
    _one_snapshot(db)
    totals = db.execute(
        select(
            _count(User),
            _count(User, User.is_active.is_(True)),
            _count(Team),
            _count(Hero),
            _count(Hero, Hero.team_id.is_(None)),
            _count(Item),
        )
    ).one()
    per_team = db.execute(
        select(Team.id, Team.name, func.count(Hero.id))
        .outerjoin(Hero, Hero.team_id == Team.id)
        .group_by(Team.id, Team.name)
        .order_by(Team.id)
    ).all()
    users, active, teams, heroes, without_team, items = totals
    return Summary(
        users=UserCounts(total=users, active=active),
        teams=teams,
        heroes=heroes,
        heroes_without_team=without_team,
        items=items,
        heroes_per_team=[
            TeamHeroCount(team_id=id_, team_name=name, heroes=count)
            for id_, name, count in per_team
        ],
    )
