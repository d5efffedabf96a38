from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from app.api.conditional import ETAG_HEADER, IfMatch, IfNoneMatch, read, tagged
from app.api.deps import CallerDep, SettingsDep, WorkDep
from app.api.idempotency import CREATED_HEADERS, IdempotencyKeyDep, once, scope_of
from app.api.json_body import StrictJSONRoute
from app.api.paging import PAGE_HEADERS, PageDep, paged
from app.api.paths import PathId
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
    responses=responses(401, 409, 422, headers=CREATED_HEADERS, success=201),
)
async def create_team(
    team_in: TeamCreate,
    work: WorkDep,
    caller: CallerDep,
    request: Request,
    response: Response,
    settings: SettingsDep,
    key: IdempotencyKeyDep,
) -> Any:
    async def create() -> Any:
        team = await work.run_as(caller, service.create_team, team_in=team_in)
        return tagged(created(team, "get_team", request, response, team_id=team.id), response)

    return await once(
        create, key=key, scope=scope_of(caller.user_id), body=team_in, model=TeamRead,
        work=work, settings=settings, request=request, response=response,
    )


@router.get(
    "",
    response_model=list[TeamRead],
    operation_id="list_teams",
    responses=responses(401, headers=PAGE_HEADERS),
)
async def list_teams(
    work: WorkDep,
    caller: CallerDep,
    page: PageDep,
    request: Request,
    response: Response,
    name: Annotated[SafeStr | None, Query(description="Exact team name")] = None,
) -> Any:
    result = await work.run_as(caller, service.list_teams, page=page, name=name)
    return paged(result, page, request, response)


@router.get(
    "/{team_id}",
    response_model=TeamDetail,
    operation_id="get_team",
    responses=responses(304, 401, 404, headers=ETAG_HEADER),
)
async def get_team(
    team_id: PathId,
    work: WorkDep,
    caller: CallerDep,
    response: Response,
    if_none_match: IfNoneMatch = None,
) -> Any:
    team = await work.run_as(caller, service.get_team, team_id=team_id)
    return read(team, response, if_none_match)


@router.patch(
    "/{team_id}",
    response_model=TeamRead,
    operation_id="update_team",
    responses=responses(401, 404, 409, 412, headers=ETAG_HEADER),
    description="The ETag is the team's, whose read (GET) also carries its heroes.",
)
async def update_team(
    team_id: PathId,
    team_in: TeamUpdate,
    work: WorkDep,
    caller: CallerDep,
    response: Response,
    expected: IfMatch,
) -> Any:
    team = await work.run_as(
        caller, service.update_team, team_id=team_id, team_in=team_in, expected=expected
    )
    return tagged(team, response)


@router.delete(
    "/{team_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_team",
    responses=responses(401, 404, 412),
    description="The team's heroes stay, with team_id null.",
)
async def delete_team(
    team_id: PathId, work: WorkDep, caller: CallerDep, expected: IfMatch
) -> None:
    await work.run_as(caller, service.delete_team, team_id=team_id, expected=expected)
