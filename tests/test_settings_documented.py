"""Every setting the service reads is documented in docs/settings.md, by its variable name."""

from pathlib import Path

import pytest

from app.core.config import Settings

SETTINGS_DOC = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


@pytest.mark.parametrize("name", sorted(name.upper() for name in Settings.model_fields))
def test_the_setting_has_a_row_in_docs_settings(name):
    rows = [line for line in SETTINGS_DOC.read_text().splitlines() if line.startswith("| ")]

    assert any(f"`{name}`" in row.split("|")[1] for row in rows), name
