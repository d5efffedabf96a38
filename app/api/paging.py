"""Paging on the wire: query parameters in, X-Total-Count and Link headers out."""

from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from app.api.paths import CANONICAL
from app.api.responses import relative
from app.core.limits import MAX_BIGINT
from app.services.paging import Page, PageRequest

MAX_LIMIT = 100


async def page_request(
    skip: Annotated[int, Query(ge=0, le=MAX_BIGINT, description="Rows to skip"), CANONICAL] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Page size"), CANONICAL
    ] = MAX_LIMIT,
    after_id: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_BIGINT,
            description="Keyset paging: rows with id > after_id; no X-Total-Count. "
            "Cannot be combined with skip > 0.",
        ),
        CANONICAL,
    ] = None,
) -> PageRequest:
    if after_id is not None and skip > 0:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "skip"),
                    "msg": "skip cannot be combined with after_id",
                    "input": skip,
                }
            ]
        )
    return PageRequest(skip=skip, limit=limit, after_id=after_id)


PageDep = Annotated[PageRequest, Depends(page_request)]

PAGE_HEADERS: dict[str, Any] = {
    "X-Total-Count": {
        "description": "Rows matching the filters, ignoring paging; absent with after_id",
        "schema": {"type": "integer"},
    },
    "Link": {
        "description": 'RFC 8288 link with rel="next" while rows remain',
        "schema": {"type": "string"},
    },
}


def paged(page: Page[Any], page_req: PageRequest, request: Request, response: Response) -> Any:
    """The page's rows, with its headers set on `response`."""
    if page.total is not None:
        response.headers["X-Total-Count"] = str(page.total)
    if page.has_more:
        if page_req.after_id is not None:
            next_url = request.url.include_query_params(after_id=page.rows[-1].id)
        else:
            next_url = request.url.include_query_params(skip=page_req.skip + page_req.limit)
        # Relative, like Location (app/api/responses.py): the host part of request.url
        # comes from the request's Host header.
        response.headers["Link"] = f'<{relative(next_url.path)}?{next_url.query}>; rel="next"'
    return page.rows
