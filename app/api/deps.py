"""The dependency graph in one place: the database, settings, the caller and their role.

Every dependency here is `async def` and does its database work through
`Database.run`: in sync mode that is one worker-thread hop per call, in async mode
none at all.
"""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from app.core.config import Settings
from app.db.database import Database
from app.db.session import get_analytics_db, get_db
from app.models import User
from app.services.auth import user_from_token
from app.services.errors import NotAuthenticated, PermissionDenied

DatabaseDep = Annotated[Database, Depends(get_db)]
AnalyticsDatabaseDep = Annotated[Database, Depends(get_analytics_db)]


async def app_settings(request: Request) -> Settings:
    """The settings the app was built with (a plain `def` would cost a thread hop)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(app_settings)]

# auto_error=False: a missing token is reported by the error mapping like any other.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
TokenDep = Annotated[str | None, Depends(oauth2_scheme)]


async def get_current_user(database: DatabaseDep, settings: SettingsDep, token: TokenDep) -> User:
    """The active user the bearer token speaks for, read fresh from the database."""
    if not token:
        raise NotAuthenticated("Not authenticated")
    return await database.run(user_from_token, token=token, secret_key=settings.secret_key)


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_current_superuser(user: CurrentUser) -> User:
    """The caller, if they are a superuser."""
    if not user.is_superuser:
        raise PermissionDenied("Superuser privileges required")
    return user


SuperUser = Annotated[User, Depends(get_current_superuser)]


async def get_registrar(
    database: DatabaseDep, settings: SettingsDep, token: TokenDep
) -> User | None:
    """Who may register users: anyone while registration is open, else a superuser."""
    if settings.open_registration:
        return None
    return await get_current_superuser(await get_current_user(database, settings, token))
