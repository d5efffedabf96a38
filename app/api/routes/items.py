from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from app.api.deps import CurrentUser, DatabaseDep
from app.api.json_body import StrictJSONRoute
from app.api.paging import PAGE_HEADERS, PageDep, paged
from app.api.paths import PathId
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
    responses=responses(401),
    description="The caller becomes the owner.",
)
async def create_item(
    item_in: ItemCreate,
    database: DatabaseDep,
    user: CurrentUser,
    request: Request,
    response: Response,
) -> Any:
    item = await database.run(service.create_item, owner=user, item_in=item_in)
    return created(item, "get_item", request, response, item_id=item.id)


@router.get(
    "",
    response_model=list[ItemRead],
    operation_id="list_items",
    responses=responses(401, headers=PAGE_HEADERS),
    description="The caller's own items; superusers see all and may filter by owner_id "
    "(ignored for everyone else).",
)
async def list_items(
    database: DatabaseDep,
    user: CurrentUser,
    page: PageDep,
    request: Request,
    response: Response,
    owner_id: Annotated[int | None, Query(ge=0, le=MAX_BIGINT)] = None,
) -> Any:
    result = await database.run(service.list_items, actor=user, page=page, owner_id=owner_id)
    return paged(result, page, request, response)


@router.get(
    "/{item_id}",
    response_model=ItemRead,
    operation_id="get_item",
    responses=responses(401, 404),
    description="Someone else's item is 404, unless the caller is a superuser.",
)
async def get_item(item_id: PathId, database: DatabaseDep, user: CurrentUser) -> Any:
    return await database.run(service.get_item, actor=user, item_id=item_id)


@router.patch(
    "/{item_id}",
    response_model=ItemRead,
    operation_id="update_item",
    responses=responses(401, 404),
)
async def update_item(
    item_id: PathId, item_in: ItemUpdate, database: DatabaseDep, user: CurrentUser
) -> Any:
    item = await database.run(service.get_item, actor=user, item_id=item_id)
    return await database.run(service.update_item, item=item, item_in=item_in)


@router.delete(
    "/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_item",
    responses=responses(401, 404),
)
async def delete_item(item_id: PathId, database: DatabaseDep, user: CurrentUser) -> None:
    item = await database.run(service.get_item, actor=user, item_id=item_id)
    await database.run(service.delete_item, item=item)
