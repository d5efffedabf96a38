"""Items: each user sees only their own, superusers see all."""

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.models import Item, User
from app.schemas.item import ItemCreate, ItemUpdate
from app.services.auth import INVALID_TOKEN
from app.services.commit import commit, delete_row
from app.services.errors import NotAuthenticated
from app.services.lookup import for_update, get_one
from app.services.paging import Page, PageRequest, fetch_page
from app.services.versions import Expected, hold_to


def readable_items(actor: User) -> Select[Item]:
    """Every item query starts here, so none can forget the owner check."""
    stmt = select(Item)
    if not actor.is_superuser:
        stmt = stmt.where(Item.owner_id == actor.id)
    return stmt


def get_item(db: Session, actor: User, *, item_id: int, lock: bool = False) -> Item:
    """The item if the actor may see it; NotFound otherwise (even if it exists)."""
    return get_one(db, readable_items(actor), Item, item_id, lock=lock)


def list_items(
    db: Session, actor: User, *, page: PageRequest, owner_id: int | None = None
) -> Page[Item]:
    """The actor's items; superusers see all and may filter by owner."""
    stmt = readable_items(actor)
    if owner_id is not None and actor.is_superuser:
        stmt = stmt.where(Item.owner_id == owner_id)
    return fetch_page(db, stmt, Item.id, page)


def create_item(db: Session, actor: User, *, item_in: ItemCreate) -> Item:
    """A new item owned by the actor."""
    item = Item(**item_in.model_dump(), owner_id=actor.id)
    db.add(item)
    # The owner is the caller: if a concurrent request deleted them after their
    # token was checked, they are no longer anyone, as their next request would say.
    commit(db, {"fk_items_owner_id_users": NotAuthenticated(INVALID_TOKEN)})
    return item


def update_item(
    db: Session,
    actor: User,
    *,
    item_id: int,
    item_in: ItemUpdate,
    expected: Expected | None = None,
) -> Item:
    """Apply the fields sent, if the actor may see the item; NotFound otherwise;
    PreconditionFailed if it is no longer in a version `expected` names."""
    item = get_item(db, actor, item_id=item_id, lock=for_update(expected))
    for field, value in item_in.model_dump(exclude_unset=True).items():
        setattr(item, field, value)
    hold_to(db, item, expected)
    commit(db, row=item, expected=expected)
    return item


def delete_item(
    db: Session, actor: User, *, item_id: int, expected: Expected | None = None
) -> None:
    """Remove the item, if the actor may see it; NotFound otherwise, or if a concurrent
    request removed it first; PreconditionFailed if it changed from what `expected` names."""
    delete_row(db, get_item(db, actor, item_id=item_id), expected)
