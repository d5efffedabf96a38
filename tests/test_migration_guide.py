"""docs/migrating-from-legacy-sqlalchemy.md quotes the project's own code: every
**After** block must still appear, word for word, in the file it names."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs/migrating-from-legacy-sqlalchemy.md"

# **After** (`path/in/repo.py`):
# ```python
# ...the quoted code...
# ```
AFTER_BLOCK = re.compile(r"^\*\*After\*\* \(`([^`]+)`\):\n```\w*\n(.*?)\n```$", re.M | re.S)


def after_blocks() -> list[tuple[str, str]]:
    return AFTER_BLOCK.findall(GUIDE.read_text())


def test_every_after_label_is_followed_by_a_quoted_block():
    # A label the pattern does not match would otherwise go unchecked.
    labels = re.findall(r"^\*\*After\*\*", GUIDE.read_text(), re.M)
    assert len(labels) == len(after_blocks())


def test_the_guide_quotes_code_from_the_repository():
    files = {path for path, _ in after_blocks()}
    assert len(after_blocks()) >= 15
    assert {"app/models/team.py", "app/db/session.py", "tests/test_legacy_patterns.py"} <= files


@pytest.mark.parametrize(("path", "snippet"), after_blocks(), ids=lambda v: v[:40])
def test_each_after_snippet_is_still_in_its_file(path, snippet):
    source = ROOT / path
    assert source.is_file(), f"the guide quotes {path}, which does not exist"
    assert snippet in source.read_text(), (
        f"docs/migrating-from-legacy-sqlalchemy.md quotes {path}, which no longer "
        f"contains:\n{snippet}\nUpdate the guide to match the code."
    )
