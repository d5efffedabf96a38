import logging
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Form, Request, Response, status
from sqlalchemy.exc import SQLAlchemyError

from app.api.deps import MailerDep, SettingsDep, WorkDep
from app.api.json_body import StrictJSONRoute
from app.api.responses import NO_STORE, no_store, responses
from app.api.throttle import LoginThrottleDep
from app.core.config import Settings
from app.core.mail import Mailer
from app.schemas.auth import PasswordResetConfirm, PasswordResetRequest, RefreshTokenIn, Token
from app.schemas.common import SafeStr
from app.schemas.error import ErrorMessage
from app.services import auth as service
from app.services import password_reset
from app.services.errors import NotConfigured
from app.services.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

EMAIL_NOT_CONFIGURED = "E-mail is not configured"

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


async def _mail_reset_token(
    work: UnitOfWork, mailer: Mailer, settings: Settings, email: str
) -> None:
    """Start a reset for `email` and mail its token, after the 202 has gone: the answer
    takes the same time whether or not the account exists, and nothing here can change
    it. Failures are a log line; nobody is waiting for them."""
    try:
        ticket = await work.run(
            password_reset.start_reset, email=email,
            lifetime_minutes=settings.password_reset_minutes,
        )
    except SQLAlchemyError as exc:
        logger.warning("password reset not started: database error %s", type(exc).__name__)
        return
    if ticket is not None:
        mailer.send_later(password_reset.reset_message(ticket, settings))


@router.post(
    "/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    operation_id="request_password_reset",
    responses={
        **responses(429),
        503: {"model": ErrorMessage,
              "description": "E-mail is not configured (no SMTP_HOST), or the database is down",
              "content": {"application/json": {"example": {"detail": EMAIL_NOT_CONFIGURED}}}},
    },
    description="Ask for a password reset e-mail. Always 202 with no body, in the same time "
    "whether or not the address belongs to an account: when it belongs to an active one, an "
    "e-mail with a single-use token (valid PASSWORD_RESET_MINUTES) is sent after the answer. "
    "The address is read as registration reads it (any letter case, a display name). Limited "
    "like failed logins, per address asked for and per client: past the limit, 429 with "
    "`Retry-After`. Without SMTP_HOST: 503 `E-mail is not configured`.",
)
async def request_password_reset(
    body: PasswordResetRequest,
    work: WorkDep,
    settings: SettingsDep,
    mailer: MailerDep,
    throttle: LoginThrottleDep,
    request: Request,
    background: BackgroundTasks,
) -> Response:
    if not mailer.configured:
        raise NotConfigured(EMAIL_NOT_CONFIGURED)
    await throttle.reset_requested(email=body.email, request=request)
    background.add_task(_mail_reset_token, work, mailer, settings, body.email)
    return Response(status_code=status.HTTP_202_ACCEPTED)  # FastAPI adds `background` to it


@router.post(
    "/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="confirm_password_reset",
    responses={
        **responses(429),
        400: {"model": ErrorMessage,
              "description": "The token is spent, expired or unknown",
              "content": {"application/json": {
                  "example": {"detail": password_reset.INVALID_RESET_TOKEN}}}},
    },
    description="Set a new password (8..128 characters) with the token a reset e-mail "
    "carried. The token is spent, and every access and refresh token of the user stops "
    "working: they log in again with the new password. A token that is spent, expired or "
    "unknown is 400; one that is not 43 URL-safe characters is 422. Refused tokens are "
    "limited per client like failed logins (429 with `Retry-After`).",
)
async def confirm_password_reset(
    body: PasswordResetConfirm,
    work: WorkDep,
    settings: SettingsDep,
    throttle: LoginThrottleDep,
    request: Request,
) -> None:
    async with throttle.reset_confirmation(request=request):
        await work.run(
            password_reset.confirm_reset, token=body.token, new_password=body.new_password,
            bcrypt_rounds=settings.bcrypt_rounds,
        )
