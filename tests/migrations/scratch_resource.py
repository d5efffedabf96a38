"""A resource added to a scratch copy of the project the way README "Adding a resource"
says: model, migration, schemas, service, routes, factory and a test of its own.

It is named `Power` unless the project already has powers (someone followed the README
with that name): then the first free name of RESOURCE_NAMES."""

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from app.db.base import Base

ROOT = Path(__file__).resolve().parents[2]
RESOURCE_NAMES = ("Power", "Gadget", "Relic", "Vehicle", "Lair")


@dataclass(frozen=True)
class Resource:
    cls: str  # Power
    item: str  # power: module, path id (`power_id`) and function names
    table: str  # powers: table, route module and path

    def fill(self, template: str) -> str:
        return (template.replace("{Class}", self.cls).replace("{item}", self.item)
                .replace("{table}", self.table))


def unused_resource() -> Resource:
    for name in RESOURCE_NAMES:
        resource = Resource(name, name.lower(), name.lower() + "s")
        if resource.table not in Base.metadata.tables:
            return resource
    raise AssertionError(f"the project already has all of {RESOURCE_NAMES}")


def copy_project(destination: Path, *, with_tests: bool = False) -> Path:
    """The application and its migrations (and its tests and settings), copied without
    caches or .git."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "perf")
    shutil.copytree(ROOT / "app", destination / "app", ignore=ignore)
    shutil.copytree(ROOT / "alembic", destination / "alembic", ignore=ignore)
    shutil.copy(ROOT / "alembic.ini", destination / "alembic.ini")
    shutil.copy(ROOT / "ruff.toml", destination / "ruff.toml")  # what the revision hooks format by
    if with_tests:
        shutil.copytree(ROOT / "tests", destination / "tests", ignore=ignore)
        for name in ("setup.cfg", "pyproject.toml"):
            shutil.copy(ROOT / name, destination / name)
    return destination


MODEL = '''\
from datetime import datetime

from sqlalchemy import ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigId, Timestamped, UTCDateTime


class {Class}(Timestamped, Base):
    __tablename__ = "{table}"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    discovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_secret: Mapped[bool] = mapped_column(server_default=false())
    hero_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("heroes.id", ondelete="SET NULL"), index=True
    )
'''


def add_model(project: Path, resource: Resource) -> None:
    """Step 1: the model, imported by app/models/__init__.py and in its __all__."""
    (project / f"app/models/{resource.item}.py").write_text(resource.fill(MODEL))
    init = project / "app/models/__init__.py"
    text = init.read_text()
    text, imports = re.subn(
        r"^(__all__ = \[)",
        f"from app.models.{resource.item} import {resource.cls}\n\n\\1\"{resource.cls}\", ",
        text, flags=re.MULTILINE,
    )
    assert imports == 1, "app/models/__init__.py has no __all__ = [...]"
    init.write_text(text)


SCHEMAS = '''\
from pydantic import ConfigDict, Field

from app.schemas.common import Id, Name, RequestModel, Timestamps


class {Class}Create(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Flight"}]})

    name: Name = Field(examples=["Flight"])
    hero_id: Id | None = None


class {Class}Update(RequestModel):
    name: Name = None  # type: ignore[assignment]
    hero_id: Id | None = None


class {Class}Read(Timestamps):
    id: int
    name: str
    hero_id: int | None
'''

SERVICE = '''\
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import {Class}, User
from app.schemas.{item} import {Class}Create, {Class}Update
from app.services.commit import commit, delete_row
from app.services.lookup import get_by_id
from app.services.paging import Page, PageRequest, fetch_page


def get_{item}(db: Session, actor: User, *, {item}_id: int) -> {Class}:
    return get_by_id(db, {Class}, {item}_id)


def list_{table}(db: Session, actor: User, *, page: PageRequest) -> Page[{Class}]:
    return fetch_page(db, select({Class}), {Class}.id, page)


def create_{item}(db: Session, actor: User, *, {item}_in: {Class}Create) -> {Class}:
    row = {Class}(**{item}_in.model_dump())
    db.add(row)
    commit(db, row={Class})
    return row


def update_{item}(
    db: Session, actor: User, *, {item}_id: int, {item}_in: {Class}Update
) -> {Class}:
    row = get_by_id(db, {Class}, {item}_id)
    for field, value in {item}_in.model_dump(exclude_unset=True).items():
        setattr(row, field, value)
    commit(db, row={Class})
    return row


def delete_{item}(db: Session, actor: User, *, {item}_id: int) -> None:
    delete_row(db, get_by_id(db, {Class}, {item}_id))
'''

ROUTES = '''\
from typing import Any

from fastapi import APIRouter, Request, Response, status

from app.api.deps import CallerDep, WorkDep
from app.api.json_body import StrictJSONRoute
from app.api.paging import PAGE_HEADERS, PageDep, paged
from app.api.paths import PathId
from app.api.responses import created, responses
from app.schemas.{item} import {Class}Create, {Class}Read, {Class}Update
from app.services import {table} as service

router = APIRouter(prefix="/{table}", tags=["{table}"], route_class=StrictJSONRoute)


@router.post("", status_code=status.HTTP_201_CREATED, response_model={Class}Read,
             operation_id="create_{item}", responses=responses(401))
async def create_{item}(
    {item}_in: {Class}Create, work: WorkDep, caller: CallerDep, request: Request,
    response: Response,
) -> Any:
    row = await work.run_as(caller, service.create_{item}, {item}_in={item}_in)
    return created(row, "get_{item}", request, response, {item}_id=row.id)


@router.get("", response_model=list[{Class}Read], operation_id="list_{table}",
            responses=responses(401, headers=PAGE_HEADERS))
async def list_{table}(
    work: WorkDep, caller: CallerDep, page: PageDep, request: Request, response: Response
) -> Any:
    result = await work.run_as(caller, service.list_{table}, page=page)
    return paged(result, page, request, response)


@router.get("/{{item}_id}", response_model={Class}Read, operation_id="get_{item}",
            responses=responses(401, 404))
async def get_{item}({item}_id: PathId, work: WorkDep, caller: CallerDep) -> Any:
    return await work.run_as(caller, service.get_{item}, {item}_id={item}_id)


@router.patch("/{{item}_id}", response_model={Class}Read, operation_id="update_{item}",
              responses=responses(401, 404))
async def update_{item}(
    {item}_id: PathId, {item}_in: {Class}Update, work: WorkDep, caller: CallerDep
) -> Any:
    return await work.run_as(
        caller, service.update_{item}, {item}_id={item}_id, {item}_in={item}_in
    )


@router.delete("/{{item}_id}", status_code=status.HTTP_204_NO_CONTENT,
               operation_id="delete_{item}", responses=responses(401, 404))
async def delete_{item}({item}_id: PathId, work: WorkDep, caller: CallerDep) -> None:
    await work.run_as(caller, service.delete_{item}, {item}_id={item}_id)
'''

FACTORY = '''

from app.models.{item} import {Class}  # noqa: E402


class {Class}Factory(BaseFactory):
    class Meta:
        model = {Class}

    name = factory.Sequence(lambda n: f"{Class} {n}")
'''

OWN_TESTS = '''\
from app.testing.factories import {Class}Factory


def test_a_{item}_is_created_read_and_listed(client, user_headers):
    created = client.post("/api/v1/{table}", json={"name": "Flight"}, headers=user_headers)

    assert created.status_code == 201
    read = client.get(created.headers["Location"], headers=user_headers)
    assert read.json()["name"] == "Flight"
    {Class}Factory()
    assert len(client.get("/api/v1/{table}", headers=user_headers).json()) == 2


def test_an_empty_{item}_name_is_worded_like_a_team_name(client, user_headers):
    response = client.post("/api/v1/{table}", json={"name": ""}, headers=user_headers)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["msg"]) == (
        ["body", "name"], "String should have at least 1 character"
    )
'''


def _replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{path.name} changed shape: {old!r}"
    path.write_text(text.replace(old, new))


def add_the_rest(project: Path, resource: Resource) -> None:
    """Steps 3 to 6: schemas, service, routes registered in create_app with their tag,
    a factory and a test file."""
    fill = resource.fill
    (project / f"app/schemas/{resource.item}.py").write_text(fill(SCHEMAS))
    (project / f"app/services/{resource.table}.py").write_text(fill(SERVICE))
    (project / f"app/api/routes/{resource.table}.py").write_text(fill(ROUTES))
    main = project / "app/main.py"
    routers = "from app.api.routes import analytics,"
    _replace_once(main, routers, f"from app.api.routes import {resource.table}\n{routers}")
    _replace_once(main, "for module in (auth, users, teams, heroes, items, analytics):",
                  f"for module in (auth, users, teams, heroes, items, {resource.table}, "
                  "analytics):")
    _replace_once(main, '    {"name": "analytics",',
                  f'    {{"name": "{resource.table}", "description": "{resource.cls}s."}},\n'
                  '    {"name": "analytics",')
    factories = project / "app/testing/factories.py"
    factories.write_text(factories.read_text() + fill(FACTORY))
    (project / f"tests/api/test_{resource.table}.py").write_text(fill(OWN_TESTS))
