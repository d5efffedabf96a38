"""The service's operations, read from its routes where a test is collected: tests
parametrized over these cover a resource added by README's "Adding a resource" without
being told of it."""

import re
from typing import NamedTuple

from fastapi.routing import APIRoute, iter_route_contexts

from app.db.base import Base
from app.testing.settings import service_app

# The one resource identifier a path template holds: `{team_id}`, `{villain_id}`.
PATH_ID = re.compile(r"\{([a-z_]+)_id\}")


class Operation(NamedTuple):
    method: str
    template: str
    route: APIRoute

    def path(self, path_id: object = 1) -> str:
        """The template with its `{..._id}` filled in."""
        return concrete(self.template, path_id)

    @property
    def has_body(self) -> bool:
        return self.route.body_field is not None


def concrete(template: str, path_id: object = 1) -> str:
    return re.sub(r"\{[^}]+\}", str(path_id), template)


def api_operations() -> list[Operation]:
    """Every method of every API route (`/api/v1/...`), sorted."""
    return sorted(
        Operation(method, context.path_format, context.original_route)
        for context in iter_route_contexts(service_app().routes)
        if isinstance(context.original_route, APIRoute)
        and context.path_format.startswith("/api/v1/")
        for method in context.methods
    )


def by_id_operations() -> list[Operation]:
    """The operations on one row, named by the id in their path."""
    return [op for op in api_operations() if PATH_ID.search(op.template)]


def not_found_message(template: str) -> str:
    """What a missing row's 404 says, "<model> not found": `/api/v1/teams/{team_id}`
    serves the model whose table is `teams`."""
    table = template.removeprefix("/api/v1/").split("/")[0]
    [model] = [m.class_ for m in Base.registry.mappers if m.local_table.name == table]
    return f"{model.__name__} not found"
