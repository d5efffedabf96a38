"""Building blocks shared by the request and response schemas."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from app.core.limits import MAX_BIGINT

# Documented in the OpenAPI schema so clients (and schemathesis) know NUL is refused.
NO_NUL_PATTERN = r"^[^\x00]*$"


def storable_text(value: str) -> str:
    """Refuse what a database cannot store: NUL (PostgreSQL text) and lone surrogates (UTF-8)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no unpaired surrogates)") from None
    return value


def _whole_number(value: Any) -> Any:
    # JSON Schema counts 5.0 as an integer; strict mode would not.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# What every stored string carries, after its own constraints.
Storable = AfterValidator(storable_text)
NoNul = Field(json_schema_extra={"pattern": NO_NUL_PATTERN})
SafeStr = Annotated[str, Storable, NoNul]


# A stored string with limits of its own puts them first, so that an error says them in
# words ("String should have at least 1 character"):
# `Annotated[str, StringConstraints(...), Storable, NoNul]`. Written the other way round,
# `Annotated[SafeStr, StringConstraints(...)]`, the lengths are checked after the
# validator and the error reads "Value should have at least 1 item after validation".
#
# A name: of a team, a hero, or a resource of yours (README "Adding a resource").
Name = Annotated[str, StringConstraints(min_length=1, max_length=100), Storable, NoNul]


def _int_range(minimum: int, maximum: int) -> Any:
    # The schema is spelled out: with a before-validator, pydantic would render the
    # bounds as floats (2**63 - 1 becomes 9.223372036854776e18, i.e. 2**63).
    return Annotated[
        int,
        Field(ge=minimum, le=maximum),
        BeforeValidator(_whole_number),
        WithJsonSchema({"type": "integer", "minimum": minimum, "maximum": maximum}),
    ]


Id = _int_range(1, MAX_BIGINT)
BigInt = _int_range(0, MAX_BIGINT)


class RequestModel(BaseModel):
    """A request body: unknown fields and coerced types (\"5\" for 5) are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ResponseModel(BaseModel):
    """A response body, read straight from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class Timestamps(ResponseModel):
    created_at: datetime
    updated_at: datetime
