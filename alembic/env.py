"""Alembic environment: the URL comes from the app's settings, the target from its models."""

import re
from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from alembic.operations import ops
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import DefaultClause
from sqlalchemy.sql import functions
from sqlalchemy.sql.elements import False_, True_

import app.models  # noqa: F401  (registers every table on Base.metadata)
from app.core.config import get_settings
from app.db.base import Base
from app.db.drivers import sync_url
from app.db.schema_compare import COMPARE_OPTIONS, known_expression_indexes_quiet

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _url() -> str:
    # Migrations run on the sync driver even when the app serves on an async one.
    url = config.attributes.get("database_url") or get_settings().database_url
    return sync_url(url).render_as_string(hide_password=False)


# Server defaults as the models write them; Alembic would render them compiled for the
# database at hand (`(CURRENT_TIMESTAMP)`, `'1'`), which the other database may refuse.
_PORTABLE_DEFAULTS = {functions.now: "sa.func.now()", True_: "sa.true()", False_: "sa.false()"}


def render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Render the project's own column types (UTCDateTime) with the import they need
    (Alembic's default writes `app.db.base.UTCDateTime()` and imports nothing), and
    server defaults so that the revision runs on SQLite and PostgreSQL alike."""
    module = type(obj).__module__
    if kind == "type" and module.split(".")[0] == "app":
        name = type(obj).__name__
        autogen_context.imports.add(f"from {module} import {name}")
        return repr(obj)
    if kind == "server_default" and isinstance(obj, DefaultClause):
        return _PORTABLE_DEFAULTS.get(type(obj.arg), False)
    return False


def process_revision_directives(context: Any, revision: Any, directives: list[Any]) -> None:
    """Number new revisions after the head (0001, 0002, ...) instead of random hex,
    unless --rev-id was given."""
    if getattr(config.cmd_opts, "rev_id", None):
        return
    script: ops.MigrationScript = directives[0]
    numbers = [
        int(head)
        for head in ScriptDirectory.from_config(config).get_heads()
        if re.fullmatch(r"\d+", head)
    ]
    script.rev_id = f"{max(numbers, default=0) + 1:04d}"


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table.
        render_as_batch=_url().startswith("sqlite"),
        render_item=render_item,
        process_revision_directives=process_revision_directives,
        **COMPARE_OPTIONS,
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction(), known_expression_indexes_quiet(target_metadata):
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = create_engine(_url(), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            _run_on(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
