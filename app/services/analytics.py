"""Reporting: counts computed by the database, two statements whatever the data size."""

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.models import Hero, Item, Team, User
from app.schemas.analytics import Summary, TeamHeroCount, UserCounts


def _count(model: type, *where: object) -> object:
    return select(func.count()).select_from(model).where(*where).scalar_subquery()  # type: ignore[arg-type]


def summary(db: Session) -> Summary:
    """Totals and heroes per team (teams with none included), from aggregate queries."""
    totals = db.execute(
        select(
            _count(User),
            select(func.coalesce(func.sum(case((User.is_active, 1), else_=0)), 0)).scalar_subquery(),
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
            TeamHeroCount(team_id=id_, team_name=name, heroes=count) for id_, name, count in per_team
        ],
    )
