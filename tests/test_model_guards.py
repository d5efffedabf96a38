"""Guards against two legacy habits the suite would otherwise let through:
a relationship that loads lazily (a `backref=`, a default `lazy="select"`), and a
model module `app/models/__init__.py` does not import (Alembic never sees its table)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import ForeignKey
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry, relationship

from app.db.base import Base

ROOT = Path(__file__).resolve().parents[1]

# Strategies that never emit SQL when an attribute is touched: they load with the
# query, raise instead, or (write_only) offer no implicit load at all.
NON_LAZY = {"raise_on_sql", "raise", "joined", "selectin", "subquery", "immediate", "write_only"}


def lazy_relationships(mapped: registry) -> list[str]:
    """One line per relationship of `mapped` that can load lazily, with the fix."""
    mapped.configure()  # backrefs only exist once mappers are configured
    found = []
    for mapper in sorted(mapped.mappers, key=lambda m: m.class_.__name__):
        for rel in mapper.relationships:
            if rel.lazy in NON_LAZY:
                continue
            name = f"{mapper.class_.__name__}.{rel.key}"
            origin = next((r for r in rel._reverse_property if r.backref), None)
            made_by = (
                f", made by backref={origin.key!r} on "
                f"{origin.parent.class_.__name__}.{origin.key}"
                if origin is not None
                else ""
            )
            found.append(
                f"{name} can lazy load (lazy={rel.lazy!r}{made_by}): declare it with "
                f'lazy="raise_on_sql" and back_populates= on both sides, and load it where '
                f"it is needed with selectinload({name}) or joinedload({name})"
            )
    return found


def test_no_relationship_can_lazy_load():
    problems = lazy_relationships(Base.registry)
    assert problems == [], "\n".join(problems)


def test_the_lazy_load_guard_catches_a_backref_and_a_default_relationship():
    class Legacy(DeclarativeBase):
        pass

    class Squad(Legacy):
        __tablename__ = "squads"
        id: Mapped[int] = mapped_column(primary_key=True)
        members = relationship("Member", backref="squad", lazy="raise_on_sql")

    class Member(Legacy):
        __tablename__ = "members"
        id: Mapped[int] = mapped_column(primary_key=True)
        squad_id: Mapped[int] = mapped_column(ForeignKey("squads.id"))
        mentor_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
        mentor = relationship("Member", remote_side=[id])

    assert lazy_relationships(Legacy.registry) == [
        "Member.mentor can lazy load (lazy='select'): declare it with "
        'lazy="raise_on_sql" and back_populates= on both sides, and load it where it is '
        "needed with selectinload(Member.mentor) or joinedload(Member.mentor)",
        "Member.squad can lazy load (lazy='select', made by backref='members' on "
        'Squad.members): declare it with lazy="raise_on_sql" and back_populates= on both '
        "sides, and load it where it is needed with selectinload(Member.squad) or "
        "joinedload(Member.squad)",
    ]


# Run in a fresh interpreter: in this one, any module that imported a model (a
# service, a test) has already put its table on the metadata, imported or not.
_TABLES_SEEN = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys

    package_name, base_path = sys.argv[1:3]
    package = importlib.import_module(package_name)
    module_name, _, attribute = base_path.partition(":")
    base = getattr(importlib.import_module(module_name), attribute)
    seen = sorted(base.metadata.tables)
    for info in pkgutil.walk_packages(package.__path__, package_name + "."):
        importlib.import_module(info.name)
    mapped_in = {m.local_table.name: m.class_.__module__ for m in base.registry.mappers}
    every = {name: mapped_in.get(name, "?") for name in base.metadata.tables}
    print(json.dumps({"seen": seen, "every": every}))
    """
)


def tables_alembic_misses(
    package: str = "app.models", base: str = "app.db.base:Base", path: Path = ROOT
) -> list[str]:
    """Tables mapped in a module under `package` that importing `package` alone (what
    alembic/env.py does) leaves off the metadata; one line each, with the fix."""
    result = subprocess.run(
        [sys.executable, "-c", _TABLES_SEEN, package, base],
        cwd=path, env={**os.environ, "PYTHONPATH": str(path)},
        capture_output=True, text=True, timeout=120, check=True,
    )
    found = json.loads(result.stdout)
    init = package.replace(".", "/") + "/__init__.py"
    return [
        f"table {table} (mapped in {module}) is not on the metadata Alembic sees: "
        f"import {module} in {init}"
        for table, module in sorted(found["every"].items())
        if table not in found["seen"]
    ]


def test_every_model_module_is_imported_by_app_models():
    missing = tables_alembic_misses()
    assert missing == [], "\n".join(missing)


def test_the_import_guard_catches_a_model_module_nobody_imports(tmp_path):
    package = tmp_path / "legacy_models"
    package.mkdir()
    (package / "base.py").write_text(
        "from sqlalchemy.orm import DeclarativeBase\n\n\nclass Base(DeclarativeBase):\n    pass\n"
    )
    model = (
        "from sqlalchemy.orm import Mapped, mapped_column\n\n"
        "from legacy_models.base import Base\n\n\n"
        "class {name}(Base):\n"
        '    __tablename__ = "{table}"\n'
        "    id: Mapped[int] = mapped_column(primary_key=True)\n"
    )
    (package / "villain.py").write_text(model.format(name="Villain", table="villains"))
    (package / "lair.py").write_text(model.format(name="Lair", table="lairs"))
    (package / "__init__.py").write_text("from legacy_models.villain import Villain\n")

    assert tables_alembic_misses("legacy_models", "legacy_models.base:Base", tmp_path) == [
        "table lairs (mapped in legacy_models.lair) is not on the metadata Alembic sees: "
        "import legacy_models.lair in legacy_models/__init__.py"
    ]
