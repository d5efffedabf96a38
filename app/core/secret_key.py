"""The signing key a service uses when SECRET_KEY is not set (the contract's default)."""

import os
import secrets
import time
from pathlib import Path

from app.core.config import BadSetting


def load_or_create(path: Path) -> str:
    """The key kept in `path`, created atomically if nobody has yet, so that restarts
    and sibling workers keep accepting the tokens already handed out."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # A sibling worker may have created the file and not written it yet.
        for _ in range(100):
            key = path.read_text().strip()
            if key:
                return key
            time.sleep(0.01)
        raise BadSetting(
            "SECRET_KEY_FILE", f"names an empty file ({path}); delete it or set SECRET_KEY"
        ) from None
    except OSError as exc:
        raise BadSetting(
            "SECRET_KEY_FILE", f"cannot be created ({exc.strerror}: {path}); set SECRET_KEY"
        ) from None
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key
