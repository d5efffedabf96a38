"""pytest plugin (`-p tests.reliability.on_newer_schema`): this code's suite on databases
one expand revision ahead of it (tests/reliability/expand.py): N-1 on N.

Every database the suite migrates is taken one throwaway expand revision past this code's
head. Start-up refuses a database whose revision this code does not know
(app/db/migrate.py `require_head`): that gate is lifted here, and only here, because what
this proves is that the previous release's queries work on the new schema; the start-up
policy is in docs/operations.md ("Deploys").
"""

import tempfile
from pathlib import Path

import pytest

from app.db import migrate
from tests.reliability import expand

_upgrade = migrate.upgrade


def _one_ahead(url: str, revision: str = "head") -> bool:
    if migrate.current_revision(url) == expand.REVISION:
        return False
    expand.migrate_one_ahead(url, Path(tempfile.mkdtemp(prefix="expand-")), upgrade=_upgrade)
    return True


def _accept_any_revision(url: str) -> None:
    return None


def pytest_configure(config: pytest.Config) -> None:
    migrate.upgrade = _one_ahead
    migrate.require_head = _accept_any_revision
