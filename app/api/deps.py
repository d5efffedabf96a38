"""The dependency graph in one place: the units of work, settings, the caller and their role.

The classic `get_db` (a `Session` per request, app/db/session.py) is there for routes
written the textbook way; the service's own routes make one call to a `WorkDep`, which
runs in sync and async mode alike (app/services/unit_of_work.py).

The caller is checked in two steps. The token (signature, expiry) here, before the
request's body is read, so that without a valid token the answer is 401 whatever the
body holds; their row (still there, active, password unchanged) in the route's unit of
work, in the same transaction as the service's work. Should the body or parameters be
invalid, the 422 handler confirms the row first (app/api/errors.py): a 422 goes only to
a caller who is signed in.
"""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.mail import Mailer
from app.db.session import databases_of, get_db
from app.models import User
from app.services import users
from app.services.auth import Caller, caller_from_token
from app.services.unit_of_work import UnitOfWork

SessionDep = Annotated[Session, Depends(get_db)]

# Where the request's caller is kept, for the 422 handler.
CALLER_STATE = "caller"


async def get_work(request: Request) -> UnitOfWork:
    """Units of work on the app's primary database."""
    databases = databases_of(request)
    return UnitOfWork(databases.SessionLocal, databases.queue)


async def get_analytics_work(request: Request) -> UnitOfWork:
    """Units of work on the app's read-only analytics database."""
    databases = databases_of(request)
    return UnitOfWork(databases.AnalyticsSessionLocal, databases.analytics_queue)


WorkDep = Annotated[UnitOfWork, Depends(get_work)]
AnalyticsWorkDep = Annotated[UnitOfWork, Depends(get_analytics_work)]


def settings_of(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


async def app_settings(request: Request) -> Settings:
    """`settings_of` as a dependency (a plain `def` would cost a thread hop)."""
    return settings_of(request)


SettingsDep = Annotated[Settings, Depends(app_settings)]


async def app_mailer(request: Request) -> Mailer:
    """The app's outgoing mail (built with it in create_app)."""
    mailer: Mailer = request.app.state.mailer
    return mailer


MailerDep = Annotated[Mailer, Depends(app_mailer)]

# auto_error=False: a missing token is reported by the error mapping like any other.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
TokenDep = Annotated[str | None, Depends(oauth2_scheme)]


async def get_caller(request: Request, token: TokenDep) -> Caller:
    """Who the bearer token says is calling; 401 unless it is well-formed, signed with
    SECRET_KEY and unexpired.

    It reads the settings itself, not through SettingsDep: nearly every request comes
    through here, and FastAPI's solving that one more dependency made `GET /users/{id}`
    3 % dearer in instructions (callgrind, docs/performance.md)."""
    caller = caller_from_token(token, secret_key=settings_of(request).secret_key)
    setattr(request.state, CALLER_STATE, caller)
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


async def get_current_superuser(work: WorkDep, caller: CallerDep) -> User:
    """The caller, if they are a signed-in superuser (403 otherwise)."""
    return await work.run_as(caller, users.require_superuser)


SuperUser = Annotated[User, Depends(get_current_superuser)]


async def get_registrar(request: Request, token: TokenDep) -> Caller | None:
    """Who is registering a user: nobody needs to be while registration is open; else
    the caller, who must be signed in (401 before the body is read). Whether they may
    is the service's rule (`register_user`)."""
    if settings_of(request).open_registration:
        return None
    return await get_caller(request, token)


Registrar = Annotated[Caller | None, Depends(get_registrar)]
