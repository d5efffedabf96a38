from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from app.api.json_body import StrictJSONRoute
from app.api.deps import CurrentUser, SessionDep
from app.api.paging import PAGE_HEADERS, PageDep, paged
from app.api.responses import created, responses
from app.schemas.common import MAX_BIGINT
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
def create_item(
    item_in: ItemCreate, db: SessionDep, user: CurrentUser, request: Request, response: Response
) -> Any:
    item = service.create_item(db=db, owner=user, item_in=item_in)
    return created(item, "get_item", request, response, item_id=item.id)


@router.get(
    "",
    response_model=list[ItemRead],
    operation_id="list_items",
    responses=responses(401, headers=PAGE_HEADERS),
    description="The caller's own items; superusers see all and may filter by owner_id "
    "(ignored for everyone else).",
)
def list_items(
    db: SessionDep,
    user: CurrentUser,
    page: PageDep,
    request: Request,
    response: Response,
    owner_id: Annotated[int | None, Query(ge=0, le=MAX_BIGINT)] = None,
) -> Any:
    result = service.list_items(db=db, actor=user, page=page, owner_id=owner_id)
    return paged(result, page, request, response)


@router.get(
    "/{item_id}",
    response_model=ItemRead,
    operation_id="get_item",
    responses=responses(401, 404),
    description="Someone else's item is 404, unless the caller is a superuser.",
)
def get_item(item_id: int, db: SessionDep, user: CurrentUser) -> Any:
    return service.get_item(db=db, actor=user, item_id=item_id)


@router.patch(
    "/{item_id}",
    response_model=ItemRead,
    operation_id="update_item",
    responses=responses(401, 404),
)
def update_item(item_id: int, item_in: ItemUpdate, db: SessionDep, user: CurrentUser) -> Any:
    item = service.get_item(db=db, actor=user, item_id=item_id)
    return service.update_item(db=db, item=item, item_in=item_in)


@router.delete(
    "/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_item",
    responses=responses(401, 404),
)
def delete_item(item_id: int, db: SessionDep, user: CurrentUser) -> None:
    service.delete_item(db=db, item=service.get_item(db=db, actor=user, item_id=item_id))
