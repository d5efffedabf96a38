"""Copy a legacy application's rows into this project's migrated database
(`python -m app import-legacy`).

Users are mapped onto `users` through the project's own rules: usernames and emails
pass the same validators as a registration, a clash ignoring case is refused, the
email key is computed in Python, legacy password hashes are kept (they are checked
at login and replaced by bcrypt then). Every other legacy table is copied into the
table of the same name (or the one `table_map` names) that the team's own models and
migrations created: columns of the same name, foreign keys to legacy users and
other copied rows followed to their new ids, naive timestamps read in the stated
time zone.

Nothing is dropped silently: a row that does not fit is reported with why, and stays
out until a resolution (rename, skip) is given. Each row is recorded in
`legacy_rows` in the transaction that inserts it, so running again imports nothing
twice and an interrupted run resumes. Sequences are reset at the end.
"""

import json
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    Table,
    create_engine,
    func,
    insert,
    select,
)
from sqlalchemy.pool import NullPool

from app.core.casefold import caseless_key
from app.core.password_formats import RAW_BCRYPT_PREFIX
from app.db import sequences
from app.db.base import Base
from app.db.drivers import sync_url
from app.db.schema_compare import known_expression_indexes_quiet
from app.models import LegacyRow, User
from app.schemas.user import Email, Username

logger = logging.getLogger(__name__)

USER_TABLES = ("user", "users", "auth_user")
PASSWORD_COLUMNS = ("password_hash", "hashed_password", "password")
CREATED_COLUMNS = ("created_at", "member_since", "date_joined", "created", "timestamp")
SEEN_COLUMNS = ("updated_at", "last_seen", "last_login")
ACTIVE_COLUMNS = ("is_active", "active")
SUPERUSER_COLUMNS = ("is_superuser", "is_admin", "admin")
BATCH = 500

_usernames = TypeAdapter(Username)
_emails = TypeAdapter(Email)
USERS: Table = User.__table__  # type: ignore[assignment]
LEGACY_ROWS: Table = LegacyRow.__table__  # type: ignore[assignment]
_HASH_WIDTH: int = USERS.c.hashed_password.type.length  # type: ignore[attr-defined]


class ImportProblem(Exception):
    """The import cannot start (no user table, an unknown table in the mapping...)."""


@dataclass(frozen=True)
class Resolutions:
    """What to do with legacy users that do not fit, by their legacy username."""

    rename: dict[str, str] = field(default_factory=dict)
    skip: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Refusal:
    table: str
    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.table} {self.key}: {self.reason}"


@dataclass
class Report:
    imported: Counter[str] = field(default_factory=Counter)
    already: Counter[str] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sequences: list[str] = field(default_factory=list)


def _first(table: Table, names: tuple[str, ...]) -> Column[Any] | None:
    return next((table.c[name] for name in names if name in table.c), None)


def _as_utc(value: Any, zone: ZoneInfo) -> Any:
    if isinstance(value, datetime):
        return (value.replace(tzinfo=zone) if value.tzinfo is None else value).astimezone(UTC)
    return value


def _key(values: dict[str, Any]) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, datetime | date | Decimal):
            return str(value)
        return value

    return json.dumps({k: plain(v) for k, v in sorted(values.items())}, sort_keys=True)


def _first_error(exc: ValidationError) -> str:
    return str(exc.errors()[0]["msg"])


class _Importer:
    def __init__(
        self,
        source: Connection,
        target: Connection,
        legacy: MetaData,
        ours: MetaData,
        *,
        zone: ZoneInfo,
        resolutions: Resolutions,
        table_map: dict[str, str],
        users_table: str | None,
    ) -> None:
        self.source, self.target = source, target
        self.legacy, self.ours = legacy, ours
        self.zone, self.resolutions, self.table_map = zone, resolutions, table_map
        self.report = Report()
        # legacy table -> legacy primary key -> the new row's primary key
        self.ids: dict[str, dict[Any, Any]] = {}
        self.refused_keys: dict[str, set[Any]] = {}
        self.skipped_keys: dict[str, set[Any]] = {}  # as asked, and the rows that go with them
        self.legacy_tables = {
            t.name: t for t in legacy.tables.values() if t.name != "alembic_version"
        }
        name = users_table or next((n for n in USER_TABLES if n in self.legacy_tables), None)
        if name is None or name not in self.legacy_tables:
            raise ImportProblem(
                f"no user table in the legacy database (looked for {users_table or USER_TABLES});"
                " name it with --users-table"
            )
        self.users = self.legacy_tables[name]
        for legacy_name, target_name in table_map.items():
            if legacy_name not in self.legacy_tables:
                raise ImportProblem(
                    f"--table {legacy_name}={target_name}: no legacy table {legacy_name}"
                )

    # --- bookkeeping -------------------------------------------------------------------

    def _recorded(self, table: str) -> dict[str, str]:
        rows = self.target.execute(
            select(LegacyRow.legacy_key, LegacyRow.target_key).where(
                LegacyRow.legacy_table == table
            )
        )
        return dict(rows.tuples().all())

    def _record(self, table: str, legacy_key: str, target: Table, target_key: Any) -> None:
        self.target.execute(
            insert(LEGACY_ROWS).values(
                legacy_table=table,
                legacy_key=legacy_key,
                target_table=target.name,
                target_key=json.dumps(target_key),
                imported_at=datetime.now(UTC),
            )
        )

    def _refuse(self, table: Table, key: Any, reason: str, *, shown: str | None = None) -> None:
        self.refused_keys.setdefault(table.name, set()).add(key)
        self.report.refused.append(Refusal(table.name, shown or str(key), reason))

    # --- users -------------------------------------------------------------------------

    def import_users(self) -> None:
        legacy = self.users
        pk = list(legacy.primary_key.columns)
        if len(pk) != 1 or "username" not in legacy.c or "email" not in legacy.c:
            raise ImportProblem(
                f"legacy table {legacy.name} needs one primary key column, username and email"
            )
        password = _first(legacy, PASSWORD_COLUMNS)
        if password is None:
            raise ImportProblem(f"legacy table {legacy.name} has no password column")
        created, seen = _first(legacy, CREATED_COLUMNS), _first(legacy, SEEN_COLUMNS)
        active, superuser = _first(legacy, ACTIVE_COLUMNS), _first(legacy, SUPERUSER_COLUMNS)
        users = USERS
        mapped = {"id", "username", "email", password.name}
        mapped |= {c.name for c in (created, seen, active, superuser) if c is not None}
        if unused := [c.name for c in legacy.c if c.name not in mapped]:
            self.report.notes.append(
                f"{legacy.name}: columns not imported (no column for them in users): "
                + ", ".join(unused)
            )
        done = self._recorded(legacy.name)
        ids = self.ids.setdefault(legacy.name, {})
        for row in self.source.execute(select(legacy).order_by(pk[0])).mappings():
            key = row[pk[0].name]
            if str(key) in done:
                ids[key] = json.loads(done[str(key)])
                self.report.already["users"] += 1
                continue
            old_name = str(row["username"])
            if old_name in self.resolutions.skip:
                self.report.skipped.append(f"{legacy.name} {key} ({old_name}): skipped as asked")
                self.skipped_keys.setdefault(legacy.name, set()).add(key)
                continue
            username = self.resolutions.rename.get(old_name, old_name)
            problem = self._user_problem(username, row["email"], row[password.name])
            if problem:
                # A new username resolves a username; an email only its owner can fix.
                fix = (
                    f"--rename '{old_name}=NEW' or --skip '{old_name}'"
                    if problem.startswith("username")
                    else f"--skip '{old_name}', or correct it in the legacy database"
                )
                shown = f"{key} ({old_name})"
                self._refuse(legacy, key, f"{problem}; resolve with {fix}", shown=shown)
                continue
            email = _emails.validate_python(row["email"])
            stored_hash = str(row[password.name])
            if stored_hash.startswith("$2b$"):
                stored_hash = RAW_BCRYPT_PREFIX + stored_hash  # see app/core/password_formats.py
            first = _as_utc(row[created.name], self.zone) if created is not None else None
            last = _as_utc(row[seen.name], self.zone) if seen is not None else None
            now = datetime.now(UTC)
            values = {
                "username": username,
                "email": email,
                "email_key": caseless_key(email),
                "hashed_password": stored_hash,
                "is_active": bool(row[active.name]) if active is not None else True,
                "is_superuser": bool(row[superuser.name]) if superuser is not None else False,
                "created_at": first or last or now,
                "updated_at": last or first or now,
            }
            if isinstance(key, int) and self._free(users, key):
                values["id"] = key  # the same id as before where it is free
            statement = insert(users).values(values).returning(users.c.id)
            new_id = self.target.execute(statement).scalar_one()
            self._record(legacy.name, str(key), users, new_id)
            self.target.commit()
            ids[key] = new_id
            self.report.imported["users"] += 1

    def _free(self, table: Table, id_: int) -> bool:
        pk = list(table.primary_key.columns)[0]
        return self.target.execute(select(pk).where(pk == id_)).first() is None

    def _user_problem(self, username: str, email: Any, hashed: Any) -> str | None:
        try:
            _usernames.validate_python(username)
        except ValidationError:
            return (
                f"username {username!r} does not fit this project's rules "
                "(3 to 50 of A-Z a-z 0-9 _ . -)"
            )
        try:
            email = _emails.validate_python(email)
        except ValidationError as exc:
            return f"email {email!r} is not valid: {_first_error(exc)}"
        users = USERS
        taken = self.target.execute(
            select(users.c.id, users.c.username).where(
                func.lower(users.c.username) == username.lower()
            )
        ).first()
        if taken is not None:
            return f"username {username!r} is taken ignoring case by user {taken[0]} ({taken[1]})"
        taken = self.target.execute(
            select(users.c.id, users.c.email).where(users.c.email_key == caseless_key(email))
        ).first()
        if taken is not None:
            return f"email {email} is taken ignoring case by user {taken[0]} ({taken[1]})"
        if not hashed:
            return "no password hash"
        if len(str(hashed)) + len(RAW_BCRYPT_PREFIX) > _HASH_WIDTH:
            return f"password hash longer than {_HASH_WIDTH - len(RAW_BCRYPT_PREFIX)} characters"
        return None

    # --- every other table -------------------------------------------------------------

    def import_tables(self) -> None:
        for legacy in self.legacy.sorted_tables:
            if legacy.name in (self.users.name, "alembic_version"):
                continue
            count = self.source.execute(select(func.count()).select_from(legacy)).scalar_one()
            if count == 0:
                self.report.notes.append(f"{legacy.name}: empty, nothing to import")
                continue
            target_name = self.table_map.get(legacy.name, legacy.name)
            target = self.ours.tables.get(target_name)
            if target is None:
                self._refuse(
                    legacy, "(all rows)",
                    f"{count} rows not imported: this database has no table {target_name}; "
                    f"create it (a model and a migration), or map it with "
                    f"--table {legacy.name}=TABLE",
                )
                continue
            self._import_table(legacy, target)

    def _import_table(self, legacy: Table, target: Table) -> None:
        common = [c.name for c in legacy.c if c.name in target.c]
        if unused := [c.name for c in legacy.c if c.name not in target.c]:
            self.report.notes.append(
                f"{legacy.name}: columns not imported (no column for them in {target.name}): "
                + ", ".join(unused)
            )
        missing = [
            c.name
            for c in target.c
            if c.name not in common
            and not c.nullable
            and c.server_default is None
            and not (c.primary_key and c.autoincrement)
        ]
        if missing:
            self._refuse(
                legacy, "(all rows)",
                f"not imported: {target.name} needs {', '.join(missing)}, which "
                f"{legacy.name} does not have",
            )
            return
        # legacy column -> the legacy table its values point at (ids are followed)
        follows = {
            fk.parent.name: fk.column.table.name
            for fk in legacy.foreign_keys
            if fk.column.table.name in self.ids
        }
        legacy_pk = [c.name for c in legacy.primary_key.columns]
        target_pk = list(target.primary_key.columns)
        own_id = (
            target_pk[0] if len(target_pk) == 1 and target_pk[0].autoincrement else None
        )
        done = self._recorded(legacy.name)
        ids = self.ids.setdefault(legacy.name, {})
        seen: set[str] = set()
        pending = 0
        order = [legacy.c[n] for n in legacy_pk] or [legacy.c[n] for n in common]
        for row in self.source.execute(select(legacy).order_by(*order)).mappings():
            whole = dict(row)
            key = whole[legacy_pk[0]] if len(legacy_pk) == 1 else None
            legacy_key = str(key) if key is not None else _key(
                {n: whole[n] for n in (legacy_pk or list(whole))}
            )
            if legacy_key in done:
                if key is not None:
                    ids[key] = json.loads(done[legacy_key])
                self.report.already[target.name] += 1
                continue
            if legacy_key in seen:
                # A table without a primary key held the same row twice (a follow stored
                # twice): one row is what it meant. Said, not dropped silently.
                self.report.notes.append(
                    f"{legacy.name} {legacy_key}: a duplicate of an earlier row, imported once"
                )
                continue
            seen.add(legacy_key)
            values = {n: _as_utc(whole[n], self.zone) for n in common}
            row_key = key if key is not None else legacy_key
            lost, skipped = self._follow(values, follows)
            if skipped:
                self.skipped_keys.setdefault(legacy.name, set()).add(row_key)
                self.report.skipped.append(f"{legacy.name} {row_key}: {lost}")
                continue
            if lost:
                self._refuse(legacy, row_key, lost)
                continue
            if own_id is not None and own_id.name in values and not self._free(
                target, values[own_id.name]
            ):
                del values[own_id.name]  # taken here: the database gives a new id
            statement = insert(target).values(values)
            if own_id is not None:
                new_key: Any = self.target.execute(statement.returning(own_id)).scalar_one()
            else:
                self.target.execute(statement)
                new_key = [values.get(c.name) for c in target_pk]
            self._record(legacy.name, legacy_key, target, new_key)
            if key is not None:
                ids[key] = new_key
            self.report.imported[target.name] += 1
            pending += 1
            if pending >= BATCH:
                self.target.commit()
                pending = 0
        self.target.commit()

    def _follow(self, values: dict[str, Any], follows: dict[str, str]) -> tuple[str | None, bool]:
        """Replace legacy ids by new ones. When a referenced row was not imported: why,
        and whether that was a skip asked for (the row goes with it) or a refusal."""
        for column, table in follows.items():
            old = values.get(column)
            if old is None:
                continue
            if old not in self.ids[table]:
                if old in self.skipped_keys.get(table, ()):
                    return f"left out with {table} {old}, skipped as asked", True
                points = f"{column} points at {table} {old}"
                if old in self.refused_keys.get(table, ()):
                    return f"{points}, which was refused (resolve it)", False
                return f"{points}, which the legacy database lacks", False
            values[column] = self.ids[table][old]
        return None, False

    # --- sequences ---------------------------------------------------------------------

    def reset_sequences(self) -> None:
        """Every sequence past the largest id its table holds: ids were copied, and the
        next registration must not be handed one of them (pk_users, a 500)."""
        self.report.sequences = sequences.reset(self.target, list(self.ours.sorted_tables))
        self.target.commit()


@contextmanager
def _engines(source_url: str, target_url: str) -> Iterator[tuple[Engine, Engine]]:
    source = create_engine(sync_url(source_url), poolclass=NullPool)
    target = create_engine(sync_url(target_url), poolclass=NullPool)
    try:
        yield source, target
    finally:
        source.dispose()
        target.dispose()


def import_legacy(
    source_url: str,
    target_url: str,
    *,
    zone: ZoneInfo,
    schema: str | None = None,
    resolutions: Resolutions | None = None,
    table_map: dict[str, str] | None = None,
    users_table: str | None = None,
) -> Report:
    """Copy the legacy database at `source_url` (tables in `schema` when given) into the
    migrated database at `target_url`; what was imported, refused and why."""
    with _engines(source_url, target_url) as (source_engine, target_engine):
        legacy, ours = MetaData(), MetaData()
        legacy.reflect(source_engine, schema=schema)
        with known_expression_indexes_quiet(Base.metadata):
            ours.reflect(target_engine)
        with source_engine.connect() as source, target_engine.connect() as target:
            importer = _Importer(
                source,
                target,
                legacy,
                ours,
                zone=zone,
                resolutions=resolutions or Resolutions(),
                table_map=table_map or {},
                users_table=users_table,
            )
            importer.import_users()
            importer.import_tables()
            importer.reset_sequences()
    report = importer.report
    logger.info(
        "legacy import: %s imported, %s already there, %s refused",
        sum(report.imported.values()),
        sum(report.already.values()),
        len(report.refused),
    )
    return report
