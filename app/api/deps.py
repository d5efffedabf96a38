"""The dependency graph in one place: sessions, settings, the caller and their role."""

from typing import Annotated

from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from app.core.config import Settings, get_settings
from app.db.session import get_analytics_db, get_db
from app.models import User
from app.services.auth import user_from_token
from app.services.errors import NotAuthenticated, PermissionDenied

SessionDep = Annotated[Session, Depends(get_db)]
AnalyticsSessionDep = Annotated[Session, Depends(get_analytics_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

# auto_error=False: a missing token is reported by the error mapping like any other.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
TokenDep = Annotated[str | None, Depends(oauth2_scheme)]


def get_current_user(db: SessionDep, settings: SettingsDep, token: TokenDep) -> User:
    """The active user the bearer token speaks for, read fresh from the database."""
    if not token:
        raise NotAuthenticated("Not authenticated")
    return user_from_token(db=db, token=token, secret_key=settings.secret_key)


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_current_superuser(user: CurrentUser) -> User:
    """The caller, if they are a superuser."""
    if not user.is_superuser:
        raise PermissionDenied("Superuser privileges required")
    return user


SuperUser = Annotated[User, Depends(get_current_superuser)]


def get_registrar(db: SessionDep, settings: SettingsDep, token: TokenDep) -> User | None:
    """Who may register users: anyone while registration is open, else a superuser."""
    if settings.open_registration:
        return None
    return get_current_superuser(get_current_user(db, settings, token))
