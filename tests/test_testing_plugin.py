"""app.testing as a downstream team adopts it: their own `tests` package, one line of conftest.

Each suite runs in a subprocess of its own, in a temporary folder, inheriting
TEST_DATABASE_URL: so on the database and in the mode this run uses.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from app.testing.asyncmode import ASYNC_MODE

ROOT = Path(__file__).resolve().parents[1]

PLUGIN_CONFTEST = '''
pytest_plugins = ["app.testing"]
'''

USES_THE_FIXTURES = '''
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

import tests
from app.models import Team
from app.testing.factories import HeroFactory, ItemFactory, NoTestSession, TeamFactory


def test_this_is_the_downstream_tests_package():
    assert Path(tests.__file__).parent == Path(__file__).parent


def test_it_runs_on_the_database_and_driver_of_TEST_DATABASE_URL(engine):
    requested = make_url(os.environ.get("TEST_DATABASE_URL") or "sqlite://")
    assert engine.url.drivername == requested.drivername


def test_a_factory_row_is_visible_through_the_client(client, user_headers):
    team = TeamFactory(name="Downstream")
    hero = HeroFactory(team=team)

    response = client.get(f"/api/v1/teams/{team.id}", headers=user_headers)

    assert response.status_code == 200
    assert response.json()["name"] == "Downstream"
    assert [member["id"] for member in response.json()["heroes"]] == [hero.id]


def test_factory_rows_are_rolled_back_after_each_test(db):
    assert db.scalar(select(func.count()).select_from(Team)) == 0


def test_auth_headers_sign_in_as_the_user(client, user, auth_headers, superuser_headers):
    me = client.get("/api/v1/users/me", headers=auth_headers(user))
    assert me.json()["username"] == user.username
    assert client.get("/api/v1/users/me", headers=superuser_headers).json()["is_superuser"]
    assert client.get("/api/v1/users/me").status_code == 401


def test_owned_items(client, user, user_headers):
    item = ItemFactory(owner=user)

    response = client.get("/api/v1/items", headers=user_headers)

    assert [row["id"] for row in response.json()] == [item.id]


def test_sql_statements_sees_the_requests_queries(client, user_headers, sql_statements):
    hero = HeroFactory()
    sql_statements.clear()

    assert client.get(f"/api/v1/heroes/{hero.id}", headers=user_headers).status_code == 200

    assert any("FROM heroes" in statement for statement in sql_statements)


def test_a_factory_without_db_after_tests_that_used_it():
    with pytest.raises(NoTestSession, match="request the `db` fixture"):
        TeamFactory()
'''

OVERRIDING_CONFTEST = '''
import pytest

from app.db import migrate
from app.testing.databases import fresh_database

pytest_plugins = ["app.testing"]

chosen = []


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    with fresh_database(tmp_path_factory.mktemp("own"), name="downstream") as url:
        migrate.upgrade(url)
        chosen.append(url)
        yield url
'''

OTHER_MODE = '''
import pytest


@pytest.fixture(scope="session")
def database_url():
    return "{url}"
'''

FACTORY_FIRST = '''
import pytest

from app.testing.factories import NoTestSession, UserFactory


def test_a_factory_without_db_in_the_first_test():
    with pytest.raises(NoTestSession, match="request the `db` fixture"):
        UserFactory()
'''

USES_THE_OVERRIDE = '''
from tests.conftest import chosen
from app.testing.factories import UserFactory


def test_the_overriding_database_url_is_the_one_used(settings, db, client, auth_headers):
    assert settings.database_url == chosen[0]
    assert db.get_bind().engine.url.render_as_string(hide_password=False) == chosen[0]
    user = UserFactory()

    response = client.get("/api/v1/users/me", headers=auth_headers(user))

    assert response.json()["id"] == user.id
'''


@pytest.fixture
def downstream(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A folder elsewhere holding only a `tests` package; this project is importable there
    because it is installed (requirements-dev.txt: `-e .`), not through PYTHONPATH."""
    monkeypatch.delenv("PYTHONPATH", raising=False)
    pytester.mkpydir("tests")
    return pytester


def run(suite: pytest.Pytester) -> pytest.RunResult:
    return suite.runpytest_subprocess("-p", "no:cacheprovider", "-q", "tests")


def test_a_downstream_suite_uses_the_fixtures_and_factories(downstream: pytest.Pytester) -> None:
    downstream.makepyfile(
        **{"tests/conftest.py": PLUGIN_CONFTEST, "tests/test_heroes.py": USES_THE_FIXTURES}
    )

    result = run(downstream)

    result.assert_outcomes(passed=8, warnings=0)
    assert not list(downstream.path.glob("*.db")) and not (downstream.path / ".secret_key").exists()


def test_a_downstream_conftest_overrides_database_url(downstream: pytest.Pytester) -> None:
    downstream.makepyfile(
        **{
            "tests/conftest.py": OVERRIDING_CONFTEST,
            "tests/test_1_no_db.py": FACTORY_FIRST,
            "tests/test_2_own_database.py": USES_THE_OVERRIDE,
        }
    )

    result = run(downstream)

    result.assert_outcomes(passed=2)


def test_a_database_url_in_the_other_mode_is_one_clear_error(downstream: pytest.Pytester) -> None:
    other = "sqlite:///other.db" if ASYNC_MODE else "sqlite+aiosqlite:///other.db"
    downstream.makepyfile(
        **{
            "tests/conftest.py": PLUGIN_CONFTEST + OTHER_MODE.format(url=other),
            "tests/test_db.py": "def test_db(db):\n    pass\n",
        }
    )

    result = run(downstream)

    result.assert_outcomes(errors=1)
    mode = "async" if ASYNC_MODE else "sync"
    result.stdout.fnmatch_lines(
        [f"*database_url uses sqlite* but TEST_DATABASE_URL selects {mode} mode: give*"]
    )


INSTALLED_ONLY = '''
from app.testing.factories import TeamFactory


def test_the_installed_plugin_serves_fixtures_without_a_conftest(client, user_headers):
    team = TeamFactory(name="Found")

    response = client.get(f"/api/v1/teams/{team.id}", headers=user_headers)

    assert response.json()["name"] == "Found"
'''


def test_installed_the_plugin_loads_by_itself(downstream: pytest.Pytester) -> None:
    """No conftest line and no PYTHONPATH: the `pytest11` entry point registers it."""
    downstream.makepyfile(**{"tests/test_teams.py": INSTALLED_ONLY})

    result = run(downstream)

    result.assert_outcomes(passed=1)


TEXTBOOK_CONFTEST = '''
import pytest
from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.db.session import get_async_db, get_db
from app.models import Team
from app.testing.asyncmode import ASYNC_MODE

router = APIRouter()

if ASYNC_MODE:
    @router.get("/ours/teams/{team_id}")
    async def team_name(team_id: int, db: AsyncSession = Depends(get_async_db)) -> str:
        team = await db.get(Team, team_id)
        if team is None:
            raise HTTPException(status_code=404, detail="Team not found")
        return team.name
else:
    @router.get("/ours/teams/{team_id}")
    def team_name(team_id: int, db: Session = Depends(get_db)) -> str:
        team = db.get(Team, team_id)
        if team is None:
            raise HTTPException(status_code=404, detail="Team not found")
        return team.name


@pytest.fixture
def app(app):
    app.include_router(router)
    return app
'''

USES_THE_TEXTBOOK_ROUTE = '''
from app.testing.factories import TeamFactory


def test_our_textbook_route_reads_what_the_factory_wrote(client):
    team = TeamFactory(name="Textbook")

    assert client.get(f"/ours/teams/{team.id}").json() == "Textbook"
    assert client.get("/ours/teams/987654").json() == {"detail": "Team not found"}
'''


def test_a_downstream_app_adds_a_textbook_route_on_get_db(downstream: pytest.Pytester) -> None:
    downstream.makepyfile(
        **{"tests/conftest.py": TEXTBOOK_CONFTEST, "tests/test_ours.py": USES_THE_TEXTBOOK_ROUTE}
    )

    result = run(downstream)

    result.assert_outcomes(passed=1)


BESIDE_ANYIO = '''
import anyio
import pytest

from app.testing.factories import UserFactory


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_a_coroutine_of_our_own_on_anyio():
    with anyio.fail_after(5):
        await anyio.sleep(0)


def test_the_plugins_fixtures_still_work_after_it(client, auth_headers, db):
    user = UserFactory(username="after_anyio")

    assert client.get("/api/v1/users/me", headers=auth_headers(user)).json()["username"] == (
        "after_anyio"
    )


@pytest.mark.anyio
async def test_another_coroutine_between_them():
    await anyio.sleep(0)


def test_and_again(db):
    assert UserFactory().id
'''


def test_a_downstream_suite_using_anyio_runs_beside_the_plugin(
    downstream: pytest.Pytester,
) -> None:
    downstream.makepyfile(**{"tests/test_mixed.py": BESIDE_ANYIO})

    result = run(downstream)

    result.assert_outcomes(passed=4)


def test_an_unreachable_test_database_is_one_line(
    downstream: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = "postgresql+asyncpg" if ASYNC_MODE else "postgresql+psycopg2"
    monkeypatch.setenv("TEST_DATABASE_URL", f"{driver}://postgres@127.0.0.1:1/nowhere")
    downstream.makepyfile(**{"tests/test_teams.py": INSTALLED_ONLY})

    result = run(downstream)

    output = [line for line in (result.outlines + result.errlines) if line.strip()]
    assert result.ret == 3
    assert "Traceback" not in "\n".join(output)
    [reason] = [line for line in output if "TEST_DATABASE_URL" in line]
    assert "database unreachable" in reason and "check TEST_DATABASE_URL" in reason
    assert len(output) <= 3, output


def test_loading_the_plugin_leaves_the_users_folder_and_environment_alone(
    tmp_path: Path,
) -> None:
    """A `.env` naming the developer's own database and no SECRET_KEY: loading the plugin
    (and the app it imports) reads neither, changes no variable and writes nothing."""
    (tmp_path / ".env").write_text("DATABASE_URL=sqlite:///./developer.db\n")
    probe = (
        "import os; before = dict(os.environ); "
        "import app.testing, app.testing.fixtures, app.main; "
        "print(dict(os.environ) == before)"
    )

    result = subprocess.run(
        [sys.executable, "-c", probe],
        check=False, cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]
