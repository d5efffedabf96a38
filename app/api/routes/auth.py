from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from app.api.deps import SettingsDep, WorkDep
from app.api.json_body import StrictJSONRoute
from app.api.responses import responses
from app.api.throttle import LoginThrottleDep
from app.schemas.auth import Token
from app.schemas.common import SafeStr
from app.services import auth as service

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
NO_STORE_HEADERS = {
    "Cache-Control": {"description": "no-store (RFC 6749, 5.1)", "schema": {"type": "string"}},
    "Pragma": {"description": "no-cache (RFC 6749, 5.1)", "schema": {"type": "string"}},
}

router = APIRouter(prefix="/auth", tags=["auth"], route_class=StrictJSONRoute)


@router.post(
    "/token",
    response_model=Token,
    operation_id="login_for_access_token",
    responses=responses(401, 403, 429, headers=NO_STORE_HEADERS),
    description="OAuth2 password flow. `username` may be the username or the email, in any "
    "letter case. Wrong username or wrong password get the same answer in about the same time. "
    "Failed attempts are limited per account and per client address: past the limit, 429 with "
    "`Retry-After`, whether or not the account exists.",
)
async def login_for_access_token(
    work: WorkDep,
    settings: SettingsDep,
    throttle: LoginThrottleDep,
    request: Request,
    response: Response,
    username: Annotated[SafeStr, Form(min_length=1, max_length=320)],
    password: Annotated[SafeStr, Form(min_length=1, max_length=1024)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
) -> Token:
    async with throttle.attempt(login=username, request=request):
        user = await work.run(
            service.authenticate,
            login=username,
            password=password,
            bcrypt_rounds=settings.bcrypt_rounds,
        )
    # RFC 6749, 5.1: a response holding a token is never stored by any cache.
    response.headers.update(NO_STORE)
    return service.issue_token(user=user, settings=settings)
