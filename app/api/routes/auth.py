from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response, status

from app.api.deps import SettingsDep, WorkDep
from app.api.json_body import StrictJSONRoute
from app.api.responses import NO_STORE, no_store, responses
from app.api.throttle import LoginThrottleDep
from app.schemas.auth import RefreshTokenIn, Token
from app.schemas.common import SafeStr
from app.services import auth as service

router = APIRouter(prefix="/auth", tags=["auth"], route_class=StrictJSONRoute)


@router.post(
    "/token",
    response_model=Token,
    operation_id="login_for_access_token",
    responses=responses(401, 403, 429, headers=NO_STORE),
    description="OAuth2 password flow. `username` may be the username or the email, in any "
    "letter case. Wrong username or wrong password get the same answer in about the same time. "
    "Failed attempts are limited per account and per client address: past the limit, 429 with "
    "`Retry-After`, whether or not the account exists. The answer also carries the first "
    "refresh token of this login (`refresh_token`, see /api/v1/auth/refresh).",
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
) -> Any:
    async with throttle.attempt(login=username, request=request):
        tokens = await work.run(
            service.log_in, login=username, password=password, settings=settings
        )
    return no_store(tokens, response)


@router.post(
    "/refresh",
    response_model=Token,
    operation_id="refresh_access_token",
    responses=responses(401, 403, headers=NO_STORE),
    description="Spend a refresh token for a new access token and a new refresh token. Each "
    "refresh token works once: sending one that was already spent is 401 and ends the login it "
    "came from (every refresh token descended from it stops working, whoever holds them), so a "
    "client must keep only the newest, and never send one twice, even concurrently. Unknown, "
    "expired or revoked tokens are 401; a token that is not 43 URL-safe characters is 422. "
    "An inactive user is 403. Each refresh token lasts `refresh_expires_in` seconds from its "
    "issue (REFRESH_TOKEN_EXPIRE_DAYS).",
)
async def refresh_access_token(
    body: RefreshTokenIn, work: WorkDep, settings: SettingsDep, response: Response
) -> Any:
    tokens = await work.run(service.refresh, refresh_token=body.refresh_token, settings=settings)
    return no_store(tokens, response)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="log_out",
    responses=responses(),
    description="End a login: every refresh token descended from it is revoked. The refresh "
    "token is the credential, so no bearer token is needed (one that has expired can still log "
    "out). A token that is unknown, spent or already revoked is 204 too (RFC 7009): there is "
    "nothing left to end. Access tokens already issued stay valid until they expire "
    "(ACCESS_TOKEN_EXPIRE_MINUTES).",
)
async def log_out(body: RefreshTokenIn, work: WorkDep) -> None:
    await work.run(service.log_out, refresh_token=body.refresh_token)
