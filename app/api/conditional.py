"""ETags, If-None-Match and If-Match on the wire (RFC 9110, 8.8.3 and 13.1).

A single resource's ETag is its row's version, quoted: a strong validator that every
instance agrees on, since the version lives in the row (app/db/base.py). What the
headers ask for goes to the services as `Expected`, and the database decides
(app/services/versions.py).
"""

import re
from typing import Annotated, Any

from fastapi import Depends, Header, Response

from app.services.versions import Expected

# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text.
_TAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
TAG_LIST_PATTERN = rf"^\s*(?:\*|{_TAG}(?:\s*,\s*{_TAG})*)\s*$"
_TAGS = re.compile(r"(W/)?\"([\x21\x23-\x7e\x80-\xff]*)\"")
_VERSION = re.compile(r"[1-9][0-9]{0,9}")

ETAG = "ETag"
ETAG_HEADER: dict[str, Any] = {
    ETAG: {
        "description": "The resource's version (strong); send it back in If-None-Match "
        "or If-Match",
        "schema": {"type": "string", "example": '"3"'},
    }
}


def etag(row: Any) -> str:
    """The strong ETag of a versioned row."""
    return f'"{row.version}"'


def _tags(value: str) -> list[tuple[bool, str]]:
    """(weak, opaque tag) for each entity-tag of a header the pattern accepted."""
    return [(weak == "W/", tag) for weak, tag in _TAGS.findall(value)]


def _version(tag: str) -> int | None:
    return int(tag) if _VERSION.fullmatch(tag) else None


async def if_match(
    value: Annotated[
        str | None,
        Header(
            alias="If-Match",
            pattern=TAG_LIST_PATTERN,
            description="Change only if the resource still has this ETag (or `*`: if it "
            "exists); otherwise 412 and nothing changes. Without it the write goes ahead.",
        ),
    ] = None,
) -> Expected | None:
    """What If-Match asks for; strong comparison, so a weak tag never matches."""
    if value is None:
        return None
    if value.strip() == "*":
        return Expected(any_version=True)
    versions = {_version(tag) for weak, tag in _tags(value) if not weak}
    return Expected(versions=frozenset(v for v in versions if v is not None))


IfMatch = Annotated[Expected | None, Depends(if_match)]
# A plain header parameter (give it `= None`), not a dependency that returns it: as a
# dependency, FastAPI's solving it made `GET /users/{id}` 4 % dearer in instructions
# (callgrind, docs/performance.md).
IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        pattern=TAG_LIST_PATTERN,
        description="304 with no body if the resource still has this ETag",
    ),
]


def _current(header: str, tag: str) -> bool:
    # Weak comparison (RFC 9110, 13.1.2): W/"3" matches "3".
    return header.strip() == "*" or any(f'"{opaque}"' == tag for _, opaque in _tags(header))


def tagged(row: Any, response: Response) -> Any:
    """`row`, its ETag on the response."""
    response.headers[ETAG] = etag(row)
    return row


def read(row: Any, response: Response, if_none_match: str | None) -> Any:
    """`row` with its ETag, or 304 with the ETag and no body if the client has it."""
    tag = etag(row)
    if if_none_match is not None and _current(if_none_match, tag):
        return Response(status_code=304, headers={ETAG: tag})
    response.headers[ETAG] = tag
    return row
