"""Heroes, always read together with their team (one joined statement); any signed-in user
may create, change and delete them."""

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, joinedload

from app.core.limits import MAX_BIGINT
from app.models import Hero, Team, User
from app.schemas.hero import HeroCreate, HeroUpdate
from app.services.commit import commit, delete_row
from app.services.errors import InvalidReference
from app.services.lookup import for_update, get_by_id, get_one
from app.services.paging import Page, PageRequest, fetch_page
from app.services.teams import bump_teams
from app.services.versions import Expected, hold_to

# Every hero read carries its team; declared once so no query forgets it.
WITH_TEAM = joinedload(Hero.team)


def _team_or_invalid(db: Session, team_id: int | None) -> Team | None:
    if team_id is None:
        return None
    team = db.get(Team, team_id) if team_id <= MAX_BIGINT else None
    if team is None:
        raise InvalidReference(f"Team {team_id} does not exist")
    return team


def _commit(
    db: Session, team_id: int | None, hero: Hero | None = None, expected: Expected | None = None
) -> None:
    # The only constraint a hero write can break: its team vanished meanwhile.
    missing_team = InvalidReference(f"Team {team_id} does not exist")
    commit(db, {"fk_heroes_team_id_teams": missing_team}, row=hero, expected=expected)


def get_hero(db: Session, actor: User, *, hero_id: int, lock: bool = False) -> Hero:
    """The hero with its team, or NotFound."""
    return get_one(db, select(Hero).options(WITH_TEAM), Hero, hero_id, lock=lock)


def list_heroes(
    db: Session,
    actor: User,
    *,
    page: PageRequest,
    team_id: int | None = None,
    name: str | None = None,
    min_age: int | None = None,
    max_age: int | None = None,
) -> Page[Hero]:
    """Heroes with their teams; age bounds are inclusive and never match a missing age."""
    stmt = select(Hero)
    if team_id is not None:
        stmt = stmt.where(Hero.team_id == team_id)
    if name is not None:
        stmt = stmt.where(Hero.name.icontains(name, autoescape=True))
    if min_age is not None:
        stmt = stmt.where(Hero.age >= min_age)
    if max_age is not None:
        stmt = stmt.where(Hero.age <= max_age)
    return fetch_page(db, stmt, Hero.id, page, options=[WITH_TEAM])


def create_hero(db: Session, actor: User, *, hero_in: HeroCreate) -> Hero:
    """A new hero; InvalidReference if its team does not exist."""
    team = _team_or_invalid(db, hero_in.team_id)
    hero = Hero(**hero_in.model_dump(exclude={"team_id"}), team=team)
    db.add(hero)
    bump_teams(db, hero_in.team_id)  # the team's roster grew
    _commit(db, hero_in.team_id)
    return hero


# What a team's representation shows of each of its heroes (TeamMember).
_SHOWN_IN_TEAM = ("name", "age")


def update_hero(
    db: Session,
    actor: User,
    *,
    hero_id: int,
    hero_in: HeroUpdate,
    expected: Expected | None = None,
) -> Hero:
    """Apply the fields sent; team_id null leaves the team; PreconditionFailed if the hero
    is no longer in a version `expected` names."""
    hero = get_hero(db, actor, hero_id=hero_id, lock=for_update(expected))
    changes = hero_in.model_dump(exclude_unset=True)
    old_team_id = team_id = hero.team_id
    if "team_id" in changes:
        team_id = changes.pop("team_id")
        hero.team = _team_or_invalid(db, team_id)
    for field, value in changes.items():
        setattr(hero, field, value)
    state = inspect(hero).attrs
    if team_id != old_team_id:
        bump_teams(db, old_team_id, team_id)  # left one roster, joined another
    elif any(state[name].history.has_changes() for name in _SHOWN_IN_TEAM):
        bump_teams(db, team_id)
    hold_to(db, hero, expected)
    _commit(db, team_id, hero, expected)
    return hero


def delete_hero(
    db: Session, actor: User, *, hero_id: int, expected: Expected | None = None
) -> None:
    """Remove the hero; NotFound if a concurrent request removed it first;
    PreconditionFailed if it changed from what `expected` names."""
    hero = get_by_id(db, Hero, hero_id)
    bump_teams(db, hero.team_id)  # the team's roster shrank
    delete_row(db, hero, expected)
