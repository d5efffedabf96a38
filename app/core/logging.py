"""Logging: the service's own lines (`app.*`) as text or JSON, request ids attached,
secrets scrubbed.

Under uvicorn, `app.access` (one line per request, written by
`app.api.middleware`) replaces uvicorn's access log, and with `LOG_FORMAT=json`
uvicorn's own lines become JSON too, so that every line on stderr parses.
"""

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]

_HANDLER_NAME = "app-stderr"
# Uvicorn's handlers keep their own formatter here while ours stands in for it.
_ORIGINAL_FORMATTER = "_app_original_formatter"

# The request being served, for every line logged while serving it.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Attributes a record may carry (`extra=`) that become JSON keys.
CONTEXT_FIELDS = ("method", "route", "status", "duration_ms", "request_id")

# Nothing below is ever logged on purpose; this is the net under the mistakes.
_SECRET = re.compile(
    r"(?P<key>(?i:password|passwd|secret|token|authorization)[\"']?\s*[:=]\s*[\"']?)"
    r"(?:[Bb]earer\s+)?[^\s\"'&,;}]+"
    r"|(?P<bearer>\b[Bb]earer\s+)[^\s\"',;]+"
    r"|eyJ[\w-]+\.[\w-]+\.[\w-]*"  # a JWT
    r"|\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}"  # a bcrypt hash
)


def _redacted(match: re.Match[str]) -> str:
    return (match.group("key") or match.group("bearer") or "") + "[redacted]"


# Substrings without which _SECRET cannot match: most lines skip the regex entirely.
_HINTS = ("pass", "secret", "token", "auth", "bearer", "eyj", "$2")


def scrub(text: str) -> str:
    """`text` with passwords, tokens, Authorization values and hashes replaced."""
    lowered = text.lower()
    if not any(hint in lowered for hint in _HINTS):
        return text
    return _SECRET.sub(_redacted, text)


def _request_id(record: logging.LogRecord) -> str | None:
    return getattr(record, "request_id", None) or request_id_var.get()


class TextFormatter(logging.Formatter):
    """`<time> <LEVEL> <logger> <message> request_id=<id>`, for people."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        request_id = _request_id(record)
        return f"{line} request_id={request_id}" if request_id else line

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        request_id = _request_id(record)
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = scrub(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def make_formatter(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(
    log_format: LogFormat = "text", level: int = logging.INFO, *, access_log: bool = True
) -> None:
    """Send `app.*` records to stderr in `log_format`, however many apps a process builds;
    one `app.access` line per request unless `access_log` is False."""
    formatter = make_formatter(log_format)
    logger = logging.getLogger("app")
    logger.setLevel(level)
    handler = next((h for h in logger.handlers if h.get_name() == _HANDLER_NAME), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name(_HANDLER_NAME)
        logger.addHandler(handler)
    handler.setFormatter(formatter)
    logging.getLogger("app.access").setLevel(logging.INFO if access_log else logging.WARNING)
    # `app.access` writes the one line per request; uvicorn's would be a second.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        for uvicorn_handler in logging.getLogger(name).handlers:
            _use_formatter(uvicorn_handler, formatter if log_format == "json" else None)


def server_logs_access() -> bool:
    """Whether the server asked for access lines, which `app.access` writes in place of
    uvicorn's: not with uvicorn's `--no-access-log` (its access logger is left with no
    handler and no propagation) nor with `--log-level warning` or above; under gunicorn's
    uvicorn worker, only with `--access-logfile`. A server that never set up uvicorn's
    access logger (another ASGI server) gets them."""
    access = logging.getLogger("uvicorn.access")
    if not access.handlers and not access.propagate:
        return False
    return access.level <= logging.INFO  # NOTSET (0): nobody set it up


def _use_formatter(handler: logging.Handler, formatter: logging.Formatter | None) -> None:
    """Put `formatter` on a handler we do not own, or give it back its own (None)."""
    if not hasattr(handler, _ORIGINAL_FORMATTER):
        setattr(handler, _ORIGINAL_FORMATTER, handler.formatter)
    handler.setFormatter(formatter or getattr(handler, _ORIGINAL_FORMATTER))


def json_server_log_config() -> dict[str, Any]:
    """A `logging.config.dictConfig` for uvicorn's `log_config`: its lines as JSON from
    the first one it writes (before the app is built). Its access logger is set up as
    uvicorn's own config sets it up, so that `server_logs_access` reads it alike; the app
    silences it once built (`app.access` writes the one line per request)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"service": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "service",
                       "stream": "ext://sys.stderr"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }
