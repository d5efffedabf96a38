from typing import Any

from fastapi import APIRouter, Request, Response, status

from app.api.conditional import ETAG_HEADER, IfMatch, IfNoneMatch, read, tagged
from app.api.deps import CallerDep, Registrar, SettingsDep, WorkDep
from app.api.idempotency import CREATED_HEADERS, IdempotencyKeyDep, once, scope_of
from app.api.json_body import StrictJSONRoute
from app.api.paging import PAGE_HEADERS, PageDep, paged
from app.api.paths import PathId
from app.api.responses import created, responses
from app.schemas.user import UserCreate, UserRead, UserUpdate
from app.services import users as service

router = APIRouter(prefix="/users", tags=["users"], route_class=StrictJSONRoute)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    operation_id="create_user",
    responses=responses(401, 403, 409, 422, headers=CREATED_HEADERS, success=201),
    summary="Register a user",
    description="Open to anyone while OPEN_REGISTRATION is true; otherwise superusers only "
    "(no token: 401, a non-superuser: 403).",
)
async def create_user(
    user_in: UserCreate,
    work: WorkDep,
    registrar: Registrar,
    settings: SettingsDep,
    request: Request,
    response: Response,
    key: IdempotencyKeyDep,
) -> Any:
    open_, rounds = settings.open_registration, settings.bcrypt_rounds

    async def create() -> Any:
        if registrar is None:  # registration is open: nobody needs to be signed in
            user = await work.run(
                service.register_user, None, open_registration=open_, user_in=user_in,
                bcrypt_rounds=rounds,
            )
        else:
            user = await work.run_as(
                registrar, service.register_user, open_registration=open_, user_in=user_in,
                bcrypt_rounds=rounds,
            )
        return tagged(created(user, "get_user", request, response, user_id=user.id), response)

    return await once(
        create, key=key, scope=scope_of(registrar.user_id if registrar else None), body=user_in,
        model=UserRead, work=work, settings=settings, request=request, response=response,
    )


@router.get(
    "",
    response_model=list[UserRead],
    operation_id="list_users",
    responses=responses(401, headers=PAGE_HEADERS),
)
async def list_users(
    work: WorkDep,
    caller: CallerDep,
    page: PageDep,
    request: Request,
    response: Response,
    is_active: bool | None = None,
) -> Any:
    result = await work.run_as(caller, service.list_users, page=page, is_active=is_active)
    return paged(result, page, request, response)


@router.get(
    "/me",
    response_model=UserRead,
    operation_id="read_current_user",
    responses=responses(304, 401, headers=ETAG_HEADER),
)
async def read_current_user(
    work: WorkDep, caller: CallerDep, response: Response, if_none_match: IfNoneMatch = None
) -> Any:
    return read(await work.run_as(caller, service.current_user), response, if_none_match)


@router.get(
    "/{user_id}",
    response_model=UserRead,
    operation_id="get_user",
    responses=responses(304, 401, 404, headers=ETAG_HEADER),
)
async def get_user(
    user_id: PathId,
    work: WorkDep,
    caller: CallerDep,
    response: Response,
    if_none_match: IfNoneMatch = None,
) -> Any:
    user = await work.run_as(caller, service.get_user, user_id=user_id)
    return read(user, response, if_none_match)


@router.patch(
    "/{user_id}",
    response_model=UserRead,
    operation_id="update_user",
    responses=responses(401, 403, 404, 409, 412, headers=ETAG_HEADER),
    description="The user themself or a superuser; is_active and is_superuser by superusers only. "
    "Changing the password ends every token issued before.",
)
async def update_user(
    user_id: PathId,
    user_in: UserUpdate,
    work: WorkDep,
    settings: SettingsDep,
    caller: CallerDep,
    response: Response,
    expected: IfMatch,
) -> Any:
    user = await work.run_as(
        caller,
        service.update_user,
        user_id=user_id,
        user_in=user_in,
        bcrypt_rounds=settings.bcrypt_rounds,
        expected=expected,
    )
    return tagged(user, response)


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_user",
    responses=responses(401, 403, 404, 412),
    description="The user themself or a superuser; the user's items are deleted with them.",
)
async def delete_user(
    user_id: PathId, work: WorkDep, caller: CallerDep, expected: IfMatch
) -> None:
    await work.run_as(caller, service.delete_user, user_id=user_id, expected=expected)
