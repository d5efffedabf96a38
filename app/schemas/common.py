"""Building blocks shared by the request and response schemas."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

MAX_BIGINT = 2**63 - 1


def reject_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refusing it everywhere keeps both databases alike.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


SafeStr = Annotated[str, AfterValidator(reject_nul)]


def bounded_str(min_length: int, max_length: int, pattern: str | None = None) -> Any:
    """A string type with length limits that also refuses NUL characters."""
    constraints = StringConstraints(min_length=min_length, max_length=max_length, pattern=pattern)
    return Annotated[str, constraints, AfterValidator(reject_nul)]

Id = Annotated[int, Field(ge=1, le=MAX_BIGINT)]
BigInt = Annotated[int, Field(ge=0, le=MAX_BIGINT)]


class RequestModel(BaseModel):
    """A request body: unknown fields and coerced types (\"5\" for 5) are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ResponseModel(BaseModel):
    """A response body, read straight from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class Timestamps(ResponseModel):
    created_at: datetime
    updated_at: datetime
