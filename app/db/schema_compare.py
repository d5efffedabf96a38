"""How the live schema is compared with the models: by `alembic check`, autogenerate and
`python -m app stamp` alike, so all three find the same differences.

SQLite cannot reflect expression-based indexes (`lower(username)`): SQLAlchemy skips
them with an SAWarning and Alembic then skips the model's side with a UserWarning, so
such an index was never compared at all. Here a SQLite-only comparator reads those
indexes from `sqlite_master` instead, and only the two warnings about indexes it
compares are silenced; any other warning still shows.
"""

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.autogenerate.api import AutogenContext
from alembic.migration import MigrationContext
from alembic.operations import ops
from alembic.runtime.plugins import Plugin
from alembic.util import DispatchPriority, PriorityDispatchResult
from alembic.util.sqla_compat import is_expression_index
from sqlalchemy import Connection, Index, MetaData, Table, inspect, text
from sqlalchemy.exc import SAWarning
from sqlalchemy.schema import CreateIndex

PLUGIN_NAME = "app.sqlite_expression_indexes"

# The options every comparison runs with (env.py passes them to context.configure).
COMPARE_OPTIONS: dict[str, Any] = {
    "compare_type": True,
    "compare_server_default": True,
    "autogenerate_plugins": ["alembic.autogenerate.*", PLUGIN_NAME],
}


def _normalised(sql: str) -> str:
    return re.sub(r"\s+", " ", sql.replace('"', "").replace("`", "")).strip().lower()


def _compare_sqlite_expression_indexes(
    autogen_context: AutogenContext,
    modify_ops: ops.ModifyTableOps,
    schema: str | None,
    tname: str,
    conn_table: Table | None,
    metadata_table: Table | None,
) -> PriorityDispatchResult:
    if conn_table is None or metadata_table is None:
        return PriorityDispatchResult.CONTINUE  # created or dropped with its table
    connection = autogen_context.connection
    assert connection is not None
    for index in sorted(metadata_table.indexes, key=lambda i: str(i.name)):
        if not is_expression_index(index):
            continue
        live = connection.execute(
            text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"),
            {"name": index.name},
        ).scalar()
        wanted = str(CreateIndex(index).compile(dialect=connection.dialect))
        if live is None:
            modify_ops.ops.append(ops.CreateIndexOp.from_index(index))
        elif _normalised(live) != _normalised(wanted):
            modify_ops.ops.append(ops.DropIndexOp.from_index(index))
            modify_ops.ops.append(ops.CreateIndexOp.from_index(index))
    return PriorityDispatchResult.CONTINUE


def _setup(plugin: Plugin) -> None:
    plugin.add_autogenerate_comparator(
        _compare_sqlite_expression_indexes,
        "table",
        "sqlite_expression_indexes",
        qualifier="sqlite",
        priority=DispatchPriority.LAST,
    )


_setup(Plugin(PLUGIN_NAME))


def _expression_index_names(metadata: MetaData) -> list[str]:
    return sorted(
        str(index.name)
        for table in metadata.tables.values()
        for index in table.indexes
        if index.name is not None and is_expression_index(index)
    )


@contextmanager
def known_expression_indexes_quiet(metadata: MetaData) -> Iterator[None]:
    """Silence SQLite's "can't reflect" warnings for the models' own expression indexes
    (which the comparator above checks); warnings about anything else still show."""
    with warnings.catch_warnings():
        for name in _expression_index_names(metadata):
            warnings.filterwarnings(
                "ignore",
                message=rf"Skipped unsupported reflection of expression-based index {name}$",
                category=SAWarning,
            )
            warnings.filterwarnings(
                "ignore",
                message=rf"autogenerate skipping metadata-specified expression-based index "
                rf"'{name}'; dialect 'sqlite' ",
                category=UserWarning,
            )
        yield


def primary_key_differences(connection: Connection, metadata: MetaData) -> list[Any]:
    """Primary keys that differ (columns, or name where the database keeps one), for the
    tables both sides have: Alembic's comparison leaves primary keys out, so a legacy
    association table without one (and holding duplicate pairs) looked "matching"."""
    inspector = inspect(connection)
    live = set(inspector.get_table_names())
    found: list[Any] = []
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        if table.name not in live:
            continue
        reflected = inspector.get_pk_constraint(table.name)
        have = list(reflected.get("constrained_columns") or [])
        want = [column.name for column in table.primary_key.columns]
        have_name, want_name = reflected.get("name"), table.primary_key.name
        if have != want:
            found.append(("modify_primary_key", table.name, have, want))
        elif have and have_name and want_name and have_name != want_name:
            found.append(("rename_primary_key", table.name, have_name, want_name))
    return found


def differences(connection: Connection, metadata: MetaData) -> list[Any]:
    """What `alembic check` would report for the database on `connection` (Alembic's
    own diff tuples), and the primary keys that differ, which Alembic does not compare."""
    context = MigrationContext.configure(connection, opts=dict(COMPARE_OPTIONS))
    with known_expression_indexes_quiet(metadata):
        found = list(compare_metadata(context, metadata))
    return found + primary_key_differences(connection, metadata)


def _column(diff: tuple[Any, ...]) -> str:
    return f"{diff[2]}.{diff[3]}"


def _index(index: Index) -> str:
    return f"{index.name} on {index.table.name if index.table is not None else '?'}"


def _key(columns: list[str]) -> str:
    return f"({', '.join(columns)})" if columns else "none"


def describe(diff: Any) -> str:
    """One line for one of Alembic's diff tuples, said from the models' side."""
    if isinstance(diff, list):  # modify_* changes of one column come grouped
        return "; ".join(describe(change) for change in diff)
    kind = diff[0]
    if kind == "add_table":
        return f"table {diff[1].name}: in the models, missing from the database"
    if kind == "remove_table":
        return f"table {diff[1].name}: in the database, not in the models"
    if kind == "add_column":
        return f"column {diff[2]}.{diff[3].name}: in the models, missing from the database"
    if kind == "remove_column":
        return f"column {diff[2]}.{diff[3].name}: in the database, not in the models"
    if kind == "add_index":
        return f"index {_index(diff[1])}: in the models, missing from the database"
    if kind == "remove_index":
        return f"index {_index(diff[1])}: in the database, not in the models"
    if kind in ("add_constraint", "add_fk"):
        return f"constraint {diff[1].name} on {diff[1].table.name}: missing from the database"
    if kind in ("remove_constraint", "remove_fk"):
        return f"constraint {diff[1].name} on {diff[1].table.name}: not in the models"
    if kind == "modify_type":
        return f"column {_column(diff)}: type {diff[5]} in the database, {diff[6]} in the models"
    if kind == "modify_nullable":
        said = {True: "NULL", False: "NOT NULL"}
        return (
            f"column {_column(diff)}: {said[diff[5]]} in the database, "
            f"{said[diff[6]]} in the models"
        )
    if kind == "modify_default":
        return f"column {_column(diff)}: a different server default in the database"
    if kind == "modify_primary_key":
        return (
            f"primary key of {diff[1]}: {_key(diff[2])} in the database, "
            f"{_key(diff[3])} in the models"
        )
    if kind == "rename_primary_key":
        return f"primary key of {diff[1]}: named {diff[2]} in the database, {diff[3]} in the models"
    if kind == "modify_comment":
        return f"column {_column(diff)}: a different comment in the database"
    return f"{kind}: {diff[1:]!r}"
