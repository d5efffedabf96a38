"""Settings: every knob of the service, read from the environment or `.env`.

Constructing `Settings` reads and validates; it writes nothing (a missing SECRET_KEY
is filled in when the service starts: app/core/secret_key.py).
"""

from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class BadSetting(Exception):
    """A setting that parses but cannot be used: `name` as the environment spells it,
    `problem` what is wrong with it, as a predicate ("is not a database URL")."""

    def __init__(self, name: str, problem: str) -> None:
        # "NAME='value' is ..." when the problem quotes the value, else "NAME is ...".
        super().__init__(f"{name}{'' if problem.startswith('=') else ' '}{problem}")
        self.name = name
        self.problem = problem


def _absolute_http_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise ValueError("must be an absolute http(s) URL without a #fragment, "
                         "e.g. https://app.example.com/reset-password")
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./app.db"
    analytics_database_url: str | None = None
    # Unset: generated once when the service starts and kept in SECRET_KEY_FILE.
    secret_key: str = Field(default="", repr=False)
    secret_key_file: str = ".secret_key"
    access_token_expire_minutes: int = Field(default=60, gt=0)
    # Each refresh token lives this long from its issue: a session used at least this
    # often never ends; one left alone longer must log in again.
    refresh_token_expire_days: int = Field(default=14, gt=0, le=3650)
    password_reset_minutes: int = Field(default=30, gt=0, le=7 * 24 * 60)
    # How long a create's response is kept for retries with its Idempotency-Key.
    idempotency_key_hours: float = Field(default=24, gt=0)
    bcrypt_rounds: int = Field(default=12, ge=4, le=31)
    open_registration: bool = True
    auto_migrate: bool = True
    first_superuser_username: str | None = None
    first_superuser_email: str | None = None
    first_superuser_password: str | None = Field(default=None, repr=False)
    database_echo: bool = False
    # Every connection kept, none overflowing: requests wait in line for one
    # (app/db/connection_queue.py), so the pool is always busy under load, and an overflow
    # connection would be closed whenever it came back while DB_POOL_SIZE sat idle, then
    # opened again for the next request (SQLAlchemy's 5 + 10 opened one for every 4 to
    # 30 requests under sustained load: tests/reliability/test_pool.py, tests/perf).
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=0, ge=0)
    db_pool_timeout: float = Field(default=30, gt=0)
    # No ping per checkout: a stale connection is found by the statement that meets it,
    # and the unit of work is run again on a fresh one (app/db/errors.py); recycling after
    # DB_POOL_RECYCLE seconds (-1: never) outlives idle cuts by servers and proxies.
    db_pool_pre_ping: bool = False
    db_pool_recycle: int = Field(default=1800, ge=-1)
    # PostgreSQL: how long a request may wait for a new connection, for a statement
    # (the server cancels it; the client gives up 2 s later on a server that says
    # nothing), and /health/ready for its ping. See app/db/timeouts.py.
    db_connect_timeout: float = Field(default=5, gt=0)
    db_statement_timeout: float = Field(default=10, gt=0)
    db_ready_timeout: float = Field(default=2, gt=0)
    # How many worker processes serve: uvicorn's and gunicorn's own variable, which
    # `python -m app serve --workers N` sets. Start-up checks every worker's pools
    # against the server's max_connections (app/db/budget.py).
    web_concurrency: int = Field(default=1, ge=1)
    # Behind PgBouncer in transaction pooling mode (see app/db/session.py).
    db_pgbouncer: bool = False
    # Failed logins (app/api/throttle.py): limits in the `limits` library's notation,
    # several separated by ";"; counts in memory (one process) or Redis (shared).
    login_rate_limit_enabled: bool = True
    login_rate_limit_per_account: str = "10/minute"
    login_rate_limit_per_address: str = "30/minute"
    rate_limit_storage_url: str = "memory://"
    rate_limit_key_prefix: str = "heroes"
    cors_origins: Annotated[list[str], NoDecode] = []
    # Host header values served (Starlette's TrustedHostMiddleware; "*." wildcards);
    # others get 400. Links never use the Host header either way.
    allowed_hosts: Annotated[list[str], NoDecode] = ["*"]
    # "json": one JSON object per line, for log shippers; "text" for people.
    log_format: Literal["text", "json"] = "text"
    metrics_enabled: bool = True
    # Mail for password resets (app/core/mail.py); no SMTP_HOST, no resets (503).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_starttls: bool = True
    # A mail server that does not answer in this many seconds is given up on (one log line).
    smtp_timeout: float = Field(default=10, gt=0)
    email_from: str | None = None
    # The page that completes a reset; the e-mail links to it with ?token=...
    password_reset_url: str | None = None
    # Start-up failures and CLI errors print their traceback before the one-line reason.
    debug: bool = False

    @field_validator("cors_origins", "allowed_hosts", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    _reset_url = field_validator("password_reset_url")(_absolute_http_url)

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_case_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator(
        "analytics_database_url", "smtp_host", "smtp_user", "smtp_password", "email_from",
        "password_reset_url", mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return value or None


@lru_cache
def get_settings() -> Settings:
    """The environment's settings, for the command line and Alembic; an app is given its own."""
    return Settings()
