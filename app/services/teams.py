"""Teams: unique names, and a roster loaded with one extra statement.

Any signed-in user may create, change and delete teams; the services take the actor
all the same, as every service a caller reaches does.

A team's representation embeds its heroes ({id, name, age}), and a hero's embeds its
team ({id, name, headquarters}): a change on one side bumps the other side's version,
in the same transaction, so every ETag changes with what it names."""

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from app.db.base import utcnow
from app.models import Hero, Team, User
from app.schemas.team import TeamCreate, TeamUpdate
from app.services.commit import commit, delete_row
from app.services.errors import Conflict
from app.services.lookup import for_update, get_by_id, get_one
from app.services.paging import Page, PageRequest, fetch_page
from app.services.versions import Expected, hold_to

NAME_TAKEN = "Team name already exists"


def _commit(db: Session, team: Team | None = None, expected: Expected | None = None) -> None:
    # The only unique value is the name; a racing request may have won it.
    commit(db, {"uq_teams_name": Conflict(NAME_TAKEN)}, row=team, expected=expected)


def bump_teams(db: Session, *team_ids: int | None) -> None:
    """A new version for these teams, whose embedded heroes changed (joined, left,
    renamed, aged, deleted). An increment, not a versioned UPDATE: a hero's write never
    fails because its team changed meanwhile."""
    ids = {id_ for id_ in team_ids if id_ is not None}
    if ids:
        db.execute(
            update(Team)
            .where(Team.id.in_(ids))
            .values(version=Team.version + 1)
            .execution_options(synchronize_session=False)
        )


def _bump_heroes_of(db: Session, team_id: int) -> None:
    # Each hero embeds its team's name and headquarters.
    db.execute(
        update(Hero)
        .where(Hero.team_id == team_id)
        .values(version=Hero.version + 1)
        .execution_options(synchronize_session=False)
    )


def _name_taken(db: Session, name: str, exclude_id: int | None = None) -> bool:
    stmt = select(Team.id).where(Team.name == name)
    if exclude_id is not None:
        stmt = stmt.where(Team.id != exclude_id)
    return db.scalar(stmt) is not None


WITH_HEROES = selectinload(Team.heroes)


def get_team(db: Session, actor: User, *, team_id: int, lock: bool = False) -> Team:
    """The team and its heroes, in two statements whatever the roster size; NotFound."""
    return get_one(db, select(Team).options(WITH_HEROES), Team, team_id, lock=lock)


def list_teams(
    db: Session, actor: User, *, page: PageRequest, name: str | None = None
) -> Page[Team]:
    """Teams ordered by id, optionally only the one with this exact name."""
    stmt = select(Team)
    if name is not None:
        stmt = stmt.where(Team.name == name)
    return fetch_page(db, stmt, Team.id, page)


def create_team(db: Session, actor: User, *, team_in: TeamCreate) -> Team:
    """A new team; Conflict if the name is taken."""
    if _name_taken(db, team_in.name):
        raise Conflict(NAME_TAKEN)
    team = Team(**team_in.model_dump())
    db.add(team)
    _commit(db)
    return team


def update_team(
    db: Session,
    actor: User,
    *,
    team_id: int,
    team_in: TeamUpdate,
    expected: Expected | None = None,
) -> Team:
    """Apply the fields sent; Conflict if the new name is taken; PreconditionFailed if the
    team is no longer in a version `expected` names."""
    team = get_team(db, actor, team_id=team_id, lock=for_update(expected))
    changes = team_in.model_dump(exclude_unset=True)
    if "name" in changes and _name_taken(db, changes["name"], exclude_id=team.id):
        raise Conflict(NAME_TAKEN)
    for field, value in changes.items():
        setattr(team, field, value)
    if db.is_modified(team):
        _bump_heroes_of(db, team.id)
    hold_to(db, team, expected)
    _commit(db, team, expected)
    return team


def delete_team(
    db: Session, actor: User, *, team_id: int, expected: Expected | None = None
) -> None:
    """Remove the team and detach its heroes (team_id NULL), in one transaction;
    NotFound if a concurrent request removed it first; PreconditionFailed if it changed
    from what `expected` names.

    The foreign key's ON DELETE SET NULL would detach them too, but could not
    mark them changed: the UPDATE first bumps their updated_at and version."""
    team = get_by_id(db, Team, team_id)
    detach = (
        update(Hero)
        .where(Hero.team_id == team.id)
        .values(team_id=None, updated_at=utcnow(), version=Hero.version + 1)
    )
    db.execute(detach)
    delete_row(db, team, expected)
