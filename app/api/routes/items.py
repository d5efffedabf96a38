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
from app.schemas.item import ItemCreate, ItemRead, ItemUpdate
from app.services import items as service

router = APIRouter(prefix="/items", tags=["items"], route_class=StrictJSONRoute)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ItemRead,
    operation_id="create_item",
    responses=responses(401, 409, 422, headers=CREATED_HEADERS, success=201),
    description="The caller becomes the owner.",
)
async def create_item(
    item_in: ItemCreate,
    work: WorkDep,
    caller: CallerDep,
    request: Request,
    response: Response,
    settings: SettingsDep,
    key: IdempotencyKeyDep,
) -> Any:
    async def create() -> Any:
        item = await work.run_as(caller, service.create_item, item_in=item_in)
        return tagged(created(item, "get_item", request, response, item_id=item.id), response)

    return await once(
        create, key=key, scope=scope_of(caller.user_id), body=item_in, model=ItemRead,
        work=work, settings=settings, request=request, response=response,
    )


@router.get(
    "",
    response_model=list[ItemRead],
    operation_id="list_items",
    responses=responses(401, headers=PAGE_HEADERS),
    description="The caller's own items; superusers see all and may filter by owner_id "
    "(ignored for everyone else).",
)
async def list_items(
    work: WorkDep,
    caller: CallerDep,
    page: PageDep,
    request: Request,
    response: Response,
    owner_id: Annotated[int | None, Query(ge=0, le=MAX_BIGINT), CANONICAL] = None,
) -> Any:
    result = await work.run_as(caller, service.list_items, page=page, owner_id=owner_id)
    return paged(result, page, request, response)


@router.get(
    "/{item_id}",
    response_model=ItemRead,
    operation_id="get_item",
    responses=responses(304, 401, 404, headers=ETAG_HEADER),
    description="Someone else's item is 404, unless the caller is a superuser.",
)
async def get_item(
    item_id: PathId,
    work: WorkDep,
    caller: CallerDep,
    response: Response,
    if_none_match: IfNoneMatch = None,
) -> Any:
    item = await work.run_as(caller, service.get_item, item_id=item_id)
    return read(item, response, if_none_match)


@router.patch(
    "/{item_id}",
    response_model=ItemRead,
    operation_id="update_item",
    responses=responses(401, 404, 412, headers=ETAG_HEADER),
)
async def update_item(
    item_id: PathId,
    item_in: ItemUpdate,
    work: WorkDep,
    caller: CallerDep,
    response: Response,
    expected: IfMatch,
) -> Any:
    item = await work.run_as(
        caller, service.update_item, item_id=item_id, item_in=item_in, expected=expected
    )
    return tagged(item, response)


@router.delete(
    "/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_item",
    responses=responses(401, 404, 412),
)
async def delete_item(
    item_id: PathId, work: WorkDep, caller: CallerDep, expected: IfMatch
) -> None:
    await work.run_as(caller, service.delete_item, item_id=item_id, expected=expected)
