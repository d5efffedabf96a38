from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from app.api.conditional import ETAG_HEADER, IfMatch, IfNoneMatch, read, tagged
from app.api.deps import CallerDep, SettingsDep, WorkDep
from app.api.idempotency import CREATED_HEADERS, IdempotencyKeyDep, once, scope_of
from app.api.json_body import StrictJSONRoute
from app.api.paging import PAGE_HEADERS, PageDep, paged
from app.api.paths import CANONICAL, PathId
from app.api.responses import created, responses
from app.core.limits import MAX_BIGINT
from app.schemas.common import SafeStr
from app.schemas.hero import HeroCreate, HeroRead, HeroUpdate
from app.services import heroes as service

router = APIRouter(prefix="/heroes", tags=["heroes"], route_class=StrictJSONRoute)

Age = Annotated[
    int | None,
    Query(ge=0, le=MAX_BIGINT, description="Inclusive; heroes with no age never match"),
    CANONICAL,
]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=HeroRead,
    operation_id="create_hero",
    responses=responses(401, 409, 422, headers=CREATED_HEADERS, success=201),
    description="A team_id that does not exist is 422. secret_name is stored, never returned.",
)
async def create_hero(
    hero_in: HeroCreate,
    work: WorkDep,
    caller: CallerDep,
    request: Request,
    response: Response,
    settings: SettingsDep,
    key: IdempotencyKeyDep,
) -> Any:
    async def create() -> Any:
        hero = await work.run_as(caller, service.create_hero, hero_in=hero_in)
        return tagged(created(hero, "get_hero", request, response, hero_id=hero.id), response)

    return await once(
        create, key=key, scope=scope_of(caller.user_id), body=hero_in, model=HeroRead,
        work=work, settings=settings, request=request, response=response,
    )


@router.get(
    "",
    response_model=list[HeroRead],
    operation_id="list_heroes",
    responses=responses(401, headers=PAGE_HEADERS),
    description="Heroes with their teams, in a fixed number of SQL statements.",
)
async def list_heroes(
    work: WorkDep,
    caller: CallerDep,
    page: PageDep,
    request: Request,
    response: Response,
    team_id: Annotated[int | None, Query(ge=0, le=MAX_BIGINT), CANONICAL] = None,
    name: Annotated[SafeStr | None, Query(description="Case-insensitive substring")] = None,
    min_age: Age = None,
    max_age: Age = None,
) -> Any:
    result = await work.run_as(
        caller,
        service.list_heroes,
        page=page,
        team_id=team_id,
        name=name,
        min_age=min_age,
        max_age=max_age,
    )
    return paged(result, page, request, response)


@router.get(
    "/{hero_id}",
    response_model=HeroRead,
    operation_id="get_hero",
    responses=responses(304, 401, 404, headers=ETAG_HEADER),
)
async def get_hero(
    hero_id: PathId,
    work: WorkDep,
    caller: CallerDep,
    response: Response,
    if_none_match: IfNoneMatch = None,
) -> Any:
    hero = await work.run_as(caller, service.get_hero, hero_id=hero_id)
    return read(hero, response, if_none_match)


@router.patch(
    "/{hero_id}",
    response_model=HeroRead,
    operation_id="update_hero",
    responses=responses(401, 404, 422, 412, headers=ETAG_HEADER),
    description="team_id null takes the hero out of its team.",
)
async def update_hero(
    hero_id: PathId,
    hero_in: HeroUpdate,
    work: WorkDep,
    caller: CallerDep,
    response: Response,
    expected: IfMatch,
) -> Any:
    hero = await work.run_as(
        caller, service.update_hero, hero_id=hero_id, hero_in=hero_in, expected=expected
    )
    return tagged(hero, response)


@router.delete(
    "/{hero_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_hero",
    responses=responses(401, 404, 412),
)
async def delete_hero(
    hero_id: PathId, work: WorkDep, caller: CallerDep, expected: IfMatch
) -> None:
    await work.run_as(caller, service.delete_hero, hero_id=hero_id, expected=expected)
