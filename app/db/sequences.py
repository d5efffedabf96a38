"""Id sequences that fell behind their table's rows.

Rows copied in with their ids (`import-legacy`, a hand-written copy, a restore of
some tables) do not move PostgreSQL's sequences: the next INSERT is handed an id that
is taken and fails on the primary key (`pk_users`). SQLite takes max(id) + 1 by
itself and never falls behind.
"""

import logging

from sqlalchemy import Connection, Table, text
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)


def _dialect_name(conn: Connection | Session) -> str:
    return conn.dialect.name if isinstance(conn, Connection) else conn.get_bind().dialect.name


def _sequence_of(conn: Connection | Session, table: Table) -> tuple[str, str] | None:
    pk = list(table.primary_key.columns)
    if len(pk) != 1 or _dialect_name(conn) != "postgresql":
        return None
    sequence = conn.execute(
        text("SELECT pg_get_serial_sequence(:table, :column)"),
        {"table": table.fullname, "column": pk[0].name},
    ).scalar()
    return (str(sequence), pk[0].name) if sequence is not None else None


def _setval(conn: Connection | Session, table: Table, sequence: str, column: str) -> int:
    """Move `sequence` past the largest id in `table`; the next id it will hand out."""
    next_id = conn.execute(
        text(f'SELECT COALESCE(max("{column}"), 0) + 1 FROM "{table.name}"')
    ).scalar_one()
    conn.execute(
        text("SELECT setval(:sequence, :next, false)"), {"sequence": sequence, "next": next_id}
    )
    return int(next_id)


def reset(conn: Connection | Session, tables: list[Table]) -> list[str]:
    """Every sequence of `tables` past its rows; the names of the tables that have one.
    The caller commits."""
    done = []
    for table in tables:
        if found := _sequence_of(conn, table):
            _setval(conn, table, *found)
            done.append(table.name)
    return done


def repair_if_behind(db: Session, table: Table) -> bool:
    """If `table`'s sequence would hand out an id its rows already have, move it past
    them, commit and log it; True if it did. Called after an INSERT broke the primary key."""
    found = _sequence_of(db, table)
    if found is None:
        db.rollback()
        return False
    sequence, column = found
    # last_value is the last id handed out (or the next one, before the first nextval).
    behind = db.execute(
        text(
            f'SELECT (SELECT last_value FROM {sequence}) <= COALESCE(max("{column}"), 0) '
            f'FROM "{table.name}"'
        )
    ).scalar_one()
    if not behind:
        db.rollback()
        return False
    next_id = _setval(db, table, sequence, column)
    db.commit()
    logger.warning(
        "the id sequence of %s was behind its rows (ids copied in without moving it); "
        "moved to %s, and the write is run again",
        table.name,
        next_id,
    )
    return True
