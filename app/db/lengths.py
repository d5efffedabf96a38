"""Every string a model stores fits its column: checked before it reaches the database.

The schemas bound what a client sends, but a value derived from it can outgrow its
column: `users.email_key`, an email's case-folded form, is longer than the email when
the email holds characters that fold to several (U+FDFA is one character and 18 once
folded; U+0130 becomes two under `str.lower`). PostgreSQL refuses such a value with an error
no service can explain (a 500); SQLite stores it. So each insert and update checks
every bounded string column of the row, and a value that does not fit is refused as
`ValueTooLong` (422), named as the client knows it: a derived column's `info`
names the field it is computed from (`DERIVED_FROM`).
"""

from typing import Any

from sqlalchemy import String, event, inspect
from sqlalchemy.orm import Mapper

from app.services.errors import ValueTooLong

# Column.info key: the field, as the client sends it, that a column is computed from.
DERIVED_FROM = "derived_from"


def _check(mapper: Mapper[Any], _connection: Any, target: Any) -> None:
    loaded = inspect(target).dict  # what the row holds; reading it loads nothing
    for attr in mapper.column_attrs:
        column = attr.columns[0]
        length = getattr(column.type, "length", None)
        value = loaded.get(attr.key)
        if not isinstance(column.type, String) or length is None or not isinstance(value, str):
            continue
        if len(value) > length:
            source = column.info.get(DERIVED_FROM)
            raise ValueTooLong(source or attr.key, len(value), length, derived=source is not None)


def fit_columns(base: type) -> None:
    """Check the strings of every model mapped onto `base` (and its subclasses) against
    their columns on each insert and update."""
    event.listen(base, "before_insert", _check, propagate=True)
    event.listen(base, "before_update", _check, propagate=True)
