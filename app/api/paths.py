"""Path parameters: an id of any length is an id, and one outside 1..2**63-1 is not found."""

import re
from typing import Annotated, Any

from pydantic import ValidationError, ValidatorFunctionWrapHandler, WrapValidator

from app.core.limits import MAX_BIGINT

# Past every id: the services answer it with 404 like any other id out of range.
BEYOND_EVERY_ID = MAX_BIGINT + 1
# What pydantic would read as an integer, were it short enough.
_INTEGER = re.compile(r"\s*[+-]?[0-9][0-9_]*\s*")


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


PathId = Annotated[int, WrapValidator(_any_length)]
