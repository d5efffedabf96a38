"""app.testing as a downstream team adopts it: their own `tests` package, one line of conftest.

Each suite runs in a subprocess of its own, in a temporary folder, inheriting
TEST_DATABASE_URL: so on the database and in the mode this run uses.
"""

import subprocess
import sys
from pathlib import Path

import pytest

import app.testing
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
    """A folder holding only a `tests` package, with this project importable beside it."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
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


def test_loading_the_plugin_leaves_the_users_folder_and_database_alone(tmp_path: Path) -> None:
    """A `.env` naming the developer's own database and no SECRET_KEY: the app's engines
    must not point there, and nothing may be written into the folder."""
    (tmp_path / ".env").write_text("DATABASE_URL=sqlite:///./developer.db\n")
    probe = (
        "import os; os.environ.pop('SECRET_KEY', None); "
        "import app.testing, app.testing.fixtures; from app.db import session; "
        "print(session.engine.url, session.analytics_engine.url.database)"
    )

    result = subprocess.run(
        [sys.executable, "-c", probe],
        check=False, cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stderr
    unused = app.testing.UNUSED_DATABASE_URL.removeprefix("sqlite:///")
    assert result.stdout.split() == [app.testing.UNUSED_DATABASE_URL, f"file:{unused}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]
