from typing import Annotated

from pydantic import AfterValidator, ConfigDict, EmailStr, Field, StringConstraints

from app.core.identifiers import normalise_identifier
from app.schemas.common import NoNul, RequestModel, Storable, Timestamps

Username = Annotated[
    str,
    StringConstraints(min_length=3, max_length=50, pattern=r"^[A-Za-z0-9_.-]+$"),
    Storable,  # the pattern already refuses NUL
    AfterValidator(normalise_identifier),
]

# Emails are compared and stored in lower case, in the one form login and the reset
# request look them up by (app/core/identifiers.py). email-validator's syntax rules
# apply, with no DNS lookup; it refuses special-use domains (RFC 6761).
Email = Annotated[
    EmailStr,
    AfterValidator(normalise_identifier),
    Field(description="A valid address; special-use domains such as .test, .local "
          "and .invalid are refused. Stored in lower case."),
]
FullName = Annotated[str, StringConstraints(min_length=0, max_length=100), Storable, NoNul]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128), Storable, NoNul]


class UserCreate(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "username": "ada",
                    "email": "ada@example.com",
                    "full_name": "Ada Lovelace",
                    "password": "correct horse battery",
                }
            ]
        }
    )

    username: Username = Field(examples=["ada"])
    email: Email = Field(examples=["ada@example.com"])
    full_name: FullName | None = Field(default=None, examples=["Ada Lovelace"])
    password: Password = Field(examples=["correct horse battery"])


class UserUpdate(RequestModel):
    """Only the fields sent are changed; null is refused where a value is required."""

    # A default of None is not validated, so an omitted field stays "unset",
    # while an explicit null fails the non-nullable type: 422.
    username: Username = None  # type: ignore[assignment]
    email: Email = None  # type: ignore[assignment]
    full_name: FullName | None = None
    password: Password = None  # type: ignore[assignment]
    is_active: bool = None  # type: ignore[assignment]
    is_superuser: bool = None  # type: ignore[assignment]


class UserRead(Timestamps):
    id: int
    username: str
    email: str
    full_name: str | None
    is_active: bool
    is_superuser: bool
