"""Integers in paths and query strings: one spelling each, and an id of any length is an id.

An id outside 1..2**63-1 is not found. Only the canonical decimal spelling is an
integer (`7`, `-7`, `0`): `+7`, `07`, ` 7`, `7.0`, `7_0` and `7e0` are refused with 422,
so that one resource has one URL (and one cache entry, one ETag) and a typo is not
read as another number.
"""

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationError, ValidatorFunctionWrapHandler, WrapValidator

from app.core.limits import MAX_BIGINT

# Past every id: the services answer it with 404 like any other id out of range.
BEYOND_EVERY_ID = MAX_BIGINT + 1
# What pydantic would read as an integer, were it short enough.
_INTEGER = re.compile(r"\s*[+-]?[0-9][0-9_]*\s*")
CANONICAL_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
# What pydantic would also read as an integer, though it is not spelled as one (`7.0`).
_READ_AS_INTEGER = re.compile(r"\s*[+-]?[0-9][0-9_]*(?:\.0*)?\s*")
NOT_CANONICAL = "must be written in decimal digits only: no sign but '-', spaces or leading zeros"


def _canonical(value: Any) -> Any:
    # Only a number in another spelling is refused here; what is no number at all (`ten`,
    # `1.5`, `1e3`) gets pydantic's own "unable to parse string as an integer".
    if (isinstance(value, str) and not CANONICAL_INTEGER.fullmatch(value)
            and _READ_AS_INTEGER.fullmatch(value)):
        raise ValueError(NOT_CANONICAL)
    return value


def _any_length(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # pydantic refuses to parse more than 4,300 digits (int_parsing_size), and the
    # route would answer 422; a number that long is simply out of range.
    try:
        return handler(value)
    except ValidationError as exc:
        too_long = any(error["type"] == "int_parsing_size" for error in exc.errors())
        if too_long and isinstance(value, str) and _INTEGER.fullmatch(value):
            return BEYOND_EVERY_ID
        raise


PathId = Annotated[int, WrapValidator(_any_length), BeforeValidator(_canonical)]
# For a query string's integer, after its Query(...) (placed before it, FastAPI would
# publish the bounds as `ge`/`le` instead of JSON Schema's minimum/maximum):
# `Annotated[int, Query(ge=0), CANONICAL]`.
CANONICAL = BeforeValidator(_canonical)
