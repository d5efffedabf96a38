"""The shape the project teaches: `get_db` yields a `Session`, engines belong to the app,
importing builds nothing, and no private API of another project is leaned on."""

import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.db import migrate
from app.db.session import WrongMode, get_async_db, get_db
from app.models import Hero
from app.schemas.hero import HeroRead
from app.testing.asyncmode import ASYNC_MODE
from app.testing.clients import app_client
from app.testing.databases import fresh_database
from app.testing.factories import HeroFactory, TeamFactory
from app.testing.settings import TestSettings
from tests.live import ROOT


def textbook_router() -> APIRouter:
    """Routes written as FastAPI's SQL tutorial has them, in each mode."""
    router = APIRouter()

    @router.get("/textbook/heroes/{hero_id}", response_model=HeroRead)
    def read_hero(hero_id: int, db: Session = Depends(get_db)) -> Hero:  # noqa: B008
        hero = db.get(Hero, hero_id)
        if hero is None:
            raise HTTPException(status_code=404, detail="Hero not found")
        hero.team  # noqa: B018 - loaded with the hero below
        return hero

    @router.get("/textbook/async/heroes", response_model=list[str])
    async def hero_names(db: Annotated[AsyncSession, Depends(get_async_db)]) -> list[str]:
        return list(await db.scalars(select(Hero.name).order_by(Hero.id)))

    return router


@pytest.fixture
def textbook_client(client_with):
    return client_with(prepare=lambda app: app.include_router(textbook_router()))


@pytest.mark.skipif(ASYNC_MODE, reason="sync mode's dependency; async mode has get_async_db")
def test_the_textbook_sync_route_reads_through_get_db(textbook_client, db):
    hero = HeroFactory(team=None, name="Tutorial")

    response = textbook_client.get(f"/textbook/heroes/{hero.id}")

    assert response.status_code == 200
    assert response.json()["name"] == "Tutorial"
    assert textbook_client.get("/textbook/heroes/999999").json() == {"detail": "Hero not found"}


@pytest.mark.skipif(not ASYNC_MODE, reason="async mode's dependency; sync mode has get_db")
def test_the_textbook_async_route_reads_through_get_async_db(textbook_client, db):
    HeroFactory(name="Awaited")

    response = textbook_client.get("/textbook/async/heroes")

    assert response.status_code == 200
    assert response.json() == ["Awaited"]


def test_the_other_modes_dependency_says_which_one_to_use(textbook_client, db):
    hero = HeroFactory(team=TeamFactory())
    path = f"/textbook/heroes/{hero.id}" if ASYNC_MODE else "/textbook/async/heroes"
    expected = "in async mode use get_async_db" if ASYNC_MODE else "in sync mode use get_db"

    with pytest.raises(WrongMode, match=expected):
        textbook_client.get(path)


def _migrated(tmp_path: Path, name: str) -> str:
    url = fresh_database(tmp_path, name)
    return url


def test_two_apps_in_one_process_each_serve_from_their_own_database(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "sqlite:////dev/null/nowhere.db")
    with fresh_database(tmp_path, "first") as first, fresh_database(tmp_path, "second") as second:
        for url in (first, second):
            migrate.upgrade(url)
        apps = [create(url) for url in (first, second)]
        with app_client(apps[0]) as one, app_client(apps[1]) as two:
            for client, name in ((one, "first"), (two, "second")):
                response = client.post("/api/v1/users", json={
                    "username": name, "email": f"{name}@example.com", "password": "long enough",
                })
                assert response.status_code == 201, response.text
            tokens = [login(one, "first"), login(two, "second")]

            me = [c.get("/api/v1/users/me", headers=t).json()["username"]
                  for c, t in ((one, tokens[0]), (two, tokens[1]))]
            assert me == ["first", "second"]
            # Each database holds one user: its own app's.
            assert [len(c.get("/api/v1/users", headers=t).json())
                    for c, t in ((one, tokens[0]), (two, tokens[1]))] == [1, 1]
            assert one.get("/api/v1/users/me", headers=tokens[1]).status_code == 401


def create(url: str) -> FastAPI:
    from app.main import create_app

    return create_app(TestSettings(database_url=url, secret_key=f"key for {url}",
                                   bcrypt_rounds=4, login_rate_limit_enabled=False))


def login(client, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token",
                           data={"username": username, "password": "long enough"})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_importing_the_app_builds_writes_and_exits_nothing(tmp_path):
    """Even with settings that cannot be read: they are read when the server starts it."""
    probe = ("import app.main, app.__main__, app.testing.fixtures; "
             "print(type(app.main.app).__name__)")

    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "BCRYPT_ROUNDS": "abc", "DATABASE_URL": "nonsense",
             "SECRET_KEY": "", "PYTHONPATH": str(ROOT)},
    )

    assert (result.returncode, result.stdout.strip()) == (0, "FromEnvironment"), result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_key_file_is_written_only_by_a_service_started_without_secret_key(
    client_with, tmp_path
):
    keyed = tmp_path / "keyed"
    client_with(secret_key="given", secret_key_file=str(keyed))
    assert not keyed.exists()

    unkeyed = tmp_path / "unkeyed"
    client = client_with(secret_key="", secret_key_file=str(unkeyed))

    assert len(unkeyed.read_text()) >= 32
    assert unkeyed.stat().st_mode & 0o077 == 0  # the owner's alone
    assert client.get("/health/live").status_code == 200


def _private_imports(path: Path) -> list[str]:
    """Modules of other projects that `path` imports and that are private (`_name`)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        found += [
            name for name in names
            if not name.startswith("app") and any(
                part.startswith("_") and not part.startswith("__") for part in name.split(".")
            )
        ]
    return found


def test_no_private_module_of_another_project_is_imported():
    offenders = {
        str(path.relative_to(ROOT)): imports
        for path in sorted((ROOT / "app").rglob("*.py"))
        if (imports := _private_imports(path))
    }

    assert offenders == {}


def _calls(dependant):
    yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def test_no_route_waits_for_a_worker_thread_before_its_one_unit_of_work(app):
    # FastAPI runs a plain `def` endpoint or dependency on a worker thread: a hop that
    # cost each GET /users/{id} in async mode about a fifth of its CPU (If-None-Match was
    # one). The unit of work is each request's one hop; everything before it is async.
    import inspect

    from fastapi.routing import APIRoute, iter_route_contexts

    sync = set()
    routes = [context.route for context in iter_route_contexts(app.routes)]
    assert any(isinstance(route, APIRoute) for route in routes)
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        for call in _calls(route.dependant):
            if call is None:
                continue
            # A class instance (OAuth2PasswordBearer) is called through its __call__.
            target = call if inspect.isfunction(call) else type(call).__call__
            if not (inspect.iscoroutinefunction(target)
                    or inspect.isasyncgenfunction(target)):
                sync.add(f"{route.path}: {getattr(call, '__qualname__', call)}")

    assert sorted(sync) == []
