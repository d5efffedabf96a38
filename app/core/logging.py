"""Logging for the service's own loggers (`app.*`); uvicorn configures its own."""

import logging
import sys

_HANDLER_NAME = "app-stderr"


def configure_logging(level: int = logging.INFO) -> None:
    """Send `app.*` records to stderr once, however many apps a process builds."""
    logger = logging.getLogger("app")
    logger.setLevel(level)
    if any(h.get_name() == _HANDLER_NAME for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger.addHandler(handler)
