"""Comparing text the way people mean it: ignoring case for all of Unicode."""

import unicodedata


def caseless_key(text: str) -> str:
    """The form two strings share when they differ only in case or in compatibility
    spelling: `straße`/`STRASSE`, `ς`/`σ`, `ﬀ`/`FF`, a composed `é` and `e` + accent.

    Unicode's NFKC_Casefold recipe (normalise, fold, normalise again, since folding
    can produce text that is no longer normalised). Frozen: stored keys are built
    with it (migration 0002 holds a copy), so changing it means a new migration."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
