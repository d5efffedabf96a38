"""A SQLite file whose path holds URI punctuation still serves analytics (issue 17, 6).

Analytics opens the file read-only through a SQLite URI (`file:...?mode=ro`), where
`#` starts a fragment and `?` a query: unescaped, SQLite cut the path there, the
summary was a 503, and an empty file appeared at the cut path.
"""

import pytest
from sqlalchemy.engine import URL

from app.testing.asyncmode import ASYNC_MODE

DRIVER = "sqlite+aiosqlite" if ASYNC_MODE else "sqlite"
BOSS = {"first_superuser_username": "boss", "first_superuser_email": "boss@example.com",
        "first_superuser_password": "a long password"}


@pytest.mark.parametrize("folder", ["data#1", "what?now", "100%25", "a b"])
def test_analytics_reads_a_file_whose_path_needs_escaping(client_with, tmp_path, folder):
    (tmp_path / folder).mkdir()
    # In the URL itself a '?' would start its query: it is written escaped (%3F).
    url = URL.create(DRIVER, database=str(tmp_path / folder / "app.db"))
    client = client_with(database_url=url.render_as_string(), auto_migrate=True, **BOSS)
    token = client.post("/api/v1/auth/token",
                        data={"username": "boss", "password": "a long password"})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    client.post("/api/v1/teams", json={"name": "Avengers", "headquarters": "HQ"},
                headers=headers)

    response = client.get("/api/v1/analytics/summary", headers=headers)

    assert response.status_code == 200
    assert response.json()["users"] == {"total": 1, "active": 1}
    assert response.json()["teams"] == 1
    # Nothing was created where an unescaped path would have been cut.
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder]
