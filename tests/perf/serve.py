"""`python -m tests.perf.serve ARGS`: uvicorn's own command line, with one fix.

uvicorn (0.54 here) binds the listening socket for `--workers N > 1` with
`proto` 0; accepted connections inherit it, and asyncio sets TCP_NODELAY only
on sockets whose proto is IPPROTO_TCP. Nagle's algorithm then meets the
client's delayed ACK and every keep-alive request after the first waits about
40 ms on Linux (uvicorn issue #3149). With one worker uvicorn lets asyncio bind,
which is unaffected. This wrapper re-labels the bound socket as TCP and runs the
unchanged CLI, so that `--workers 2` measures the app rather than the stall;
`python -m tests.perf --stock-uvicorn` measures the stock behaviour instead.
"""

import socket
from typing import Any

from uvicorn import config as uvicorn_config


def _bind_socket(self: uvicorn_config.Config, _bind: Any = uvicorn_config.Config.bind_socket
                 ) -> socket.socket:
    sock = _bind(self)
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto == 0:
        sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        sock.set_inheritable(True)
    return sock


if __name__ == "__main__":
    uvicorn_config.Config.bind_socket = _bind_socket  # type: ignore[method-assign]
    from uvicorn.main import main

    main()
