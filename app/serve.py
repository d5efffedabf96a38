"""`python -m app serve`: uvicorn as production should run it, fast with any worker count.

Two things plain `uvicorn app.main:app --workers 2` gets wrong or leaves to chance:

* TCP_NODELAY. With `--workers` > 1, uvicorn (0.54) binds the listening socket
  itself with protocol 0; the accepted connections inherit it, and asyncio sets
  TCP_NODELAY only on sockets labelled IPPROTO_TCP. Nagle's algorithm then meets
  the client's delayed ACK and every keep-alive request after the first waits
  about 40 ms on Linux (uvicorn issue #3149). `nodelay_bind_socket` labels the
  socket as TCP and sets TCP_NODELAY on it, which Linux passes on to every
  accepted connection, whichever loop serves it.
* The event loop and HTTP parser: uvloop and httptools (pinned in
  requirements.txt), named explicitly so that a missing wheel fails at start-up
  instead of silently falling back to the slower pure-Python pair. (uvloop sets
  TCP_NODELAY itself; `--loop asyncio`, for where uvloop is not available,
  relies on the socket fix above.)
"""

import socket
from typing import Any

import uvicorn
from uvicorn.config import Config

from app.core.logging import json_server_log_config

APP = "app.main:app"
_bind_socket = Config.bind_socket


def nodelay_bind_socket(config: Config) -> socket.socket:
    """uvicorn's bound socket, labelled as TCP and with TCP_NODELAY (see the module doc)."""
    sock = _bind_socket(config)
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        if sock.proto == 0:
            sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP,
                                 fileno=sock.detach())
            sock.set_inheritable(True)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def serve(
    host: str, port: int, workers: int, loop: str = "uvloop", log_format: str = "text",
    **options: Any,
) -> None:
    """Run the service under uvicorn with `workers` processes (see the module doc)."""
    Config.bind_socket = nodelay_bind_socket  # type: ignore[method-assign,assignment]
    if log_format == "json":
        options["log_config"] = json_server_log_config()
    # server_header=False: no `server: uvicorn` naming the stack (OWASP Secure Headers).
    uvicorn.run(APP, host=host, port=port, workers=workers, loop=loop, http="httptools",
                server_header=False, **options)
