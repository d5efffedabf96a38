"""Settings: every knob of the service, read once from the environment or `.env`."""

import os
import secrets
import time
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing_extensions import Annotated

# Where a generated SECRET_KEY is kept, so that restarts and sibling workers
# keep accepting the tokens already handed out.
SECRET_KEY_FILE = Path(".secret_key")


def _load_or_create_secret_key(path: Path = SECRET_KEY_FILE) -> str:
    """Read the local key file, creating it atomically if nobody has yet."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # A sibling worker may have created the file and not written it yet.
        for _ in range(100):
            key = path.read_text().strip()
            if key:
                return key
            time.sleep(0.01)
        raise RuntimeError(f"{path} is empty; delete it or set SECRET_KEY")
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./app.db"
    analytics_database_url: str | None = None
    secret_key: str = Field(default="", repr=False)
    access_token_expire_minutes: int = Field(default=60, gt=0)
    bcrypt_rounds: int = Field(default=12, ge=4, le=31)
    open_registration: bool = True
    auto_migrate: bool = True
    first_superuser_username: str | None = None
    first_superuser_email: str | None = None
    first_superuser_password: str | None = Field(default=None, repr=False)
    database_echo: bool = False
    db_pool_size: int = Field(default=5, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout: float = Field(default=30, gt=0)
    db_pool_pre_ping: bool = True
    cors_origins: Annotated[list[str], NoDecode] = []
    # Host header values served (Starlette's TrustedHostMiddleware; "*." wildcards);
    # others get 400. Links never use the Host header either way.
    allowed_hosts: Annotated[list[str], NoDecode] = ["*"]
    # "json": one JSON object per line, for log shippers; "text" for people.
    log_format: Literal["text", "json"] = "text"
    metrics_enabled: bool = True

    @field_validator("cors_origins", "allowed_hosts", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_case_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("analytics_database_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return value or None

    def model_post_init(self, __context: object) -> None:
        if not self.secret_key:
            self.secret_key = _load_or_create_secret_key()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests build their own `Settings` instead."""
    return Settings()
