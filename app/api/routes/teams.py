from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from app.api.json_body import StrictJSONRoute
from app.api.deps import CurrentUser, SessionDep
from app.api.paging import PAGE_HEADERS, PageDep, paged
from app.api.responses import created, responses
from app.schemas.common import SafeStr
from app.schemas.team import TeamCreate, TeamDetail, TeamRead, TeamUpdate
from app.services import teams as service

router = APIRouter(prefix="/teams", tags=["teams"], route_class=StrictJSONRoute)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TeamRead,
    operation_id="create_team",
    responses=responses(401, 409),
)
def create_team(
    team_in: TeamCreate, db: SessionDep, _: CurrentUser, request: Request, response: Response
) -> Any:
    team = service.create_team(db=db, team_in=team_in)
    return created(team, "get_team", request, response, team_id=team.id)


@router.get(
    "",
    response_model=list[TeamRead],
    operation_id="list_teams",
    responses=responses(401, headers=PAGE_HEADERS),
)
def list_teams(
    db: SessionDep,
    _: CurrentUser,
    page: PageDep,
    request: Request,
    response: Response,
    name: Annotated[SafeStr | None, Query(description="Exact team name")] = None,
) -> Any:
    return paged(service.list_teams(db=db, page=page, name=name), page, request, response)


@router.get(
    "/{team_id}",
    response_model=TeamDetail,
    operation_id="get_team",
    responses=responses(401, 404),
)
def get_team(team_id: int, db: SessionDep, _: CurrentUser) -> Any:
    return service.get_team_with_heroes(db=db, team_id=team_id)


@router.patch(
    "/{team_id}",
    response_model=TeamRead,
    operation_id="update_team",
    responses=responses(401, 404, 409),
)
def update_team(team_id: int, team_in: TeamUpdate, db: SessionDep, _: CurrentUser) -> Any:
    team = service.get_team(db=db, team_id=team_id)
    return service.update_team(db=db, team=team, team_in=team_in)


@router.delete(
    "/{team_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_team",
    responses=responses(401, 404),
    description="The team's heroes stay, with team_id null.",
)
def delete_team(team_id: int, db: SessionDep, _: CurrentUser) -> None:
    service.delete_team(db=db, team=service.get_team(db=db, team_id=team_id))
