"""A database that some other (newer) version of the code migrated: the CLI and start-up
must both refuse it in one line."""

import sqlite3
from pathlib import Path


def unknown_revision_database(tmp_path: Path) -> str:
    """A SQLite database at a revision this code does not know ('f00dcafe')."""
    path = tmp_path / "newer.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('f00dcafe')")
    return f"sqlite:///{path}"
