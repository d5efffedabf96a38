from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.security import OPAQUE_TOKEN_PATTERN
from app.schemas.common import RequestModel
from app.schemas.user import Email, Password

# Refresh and reset tokens are 43 URL-safe characters: anything else is refused by
# validation (422) before any lookup, and says nothing about any account.
OpaqueToken = Annotated[str, StringConstraints(pattern=OPAQUE_TOKEN_PATTERN)]


class AccessToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds the access token is valid for.")


class Token(AccessToken):
    """What a login or a refresh answers: a new access token and a new refresh token."""

    refresh_token: str = Field(
        description="Opaque; send it to /api/v1/auth/refresh for the next pair. Single use."
    )
    refresh_expires_in: int = Field(description="Seconds the refresh token is valid for.")


class RefreshTokenIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"refresh_token": "x" * 43}]}
    )

    refresh_token: OpaqueToken


class PasswordResetRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "ada@example.com"}]})

    email: Email


class PasswordResetConfirm(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"token": "x" * 43, "new_password": "a new long password"}]
        }
    )

    token: OpaqueToken
    new_password: Password
