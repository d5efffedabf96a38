"""`python -m tests.perf.serve ARGS`: uvicorn's own command line, with one fix.

uvicorn (0.54 here) binds the listening socket for `--workers N > 1` with
`proto` 0; accepted connections inherit it, and asyncio sets TCP_NODELAY only
on sockets whose proto is IPPROTO_TCP. Nagle's algorithm then meets the
client's delayed ACK and every keep-alive request after the first waits about
40 ms on Linux (uvicorn issue #3149). This wrapper applies the service's own fix
(app/serve.py, behind `python -m app serve`) and runs the unchanged CLI, so that
the service and the ceiling are served alike with any worker count;
`python -m tests.perf --stock-uvicorn` measures the stock behaviour instead.
(uvicorn picks uvloop and httptools, pinned in requirements.txt, by itself.)
"""

from uvicorn import config as uvicorn_config

from app.serve import nodelay_bind_socket

if __name__ == "__main__":
    uvicorn_config.Config.bind_socket = nodelay_bind_socket  # type: ignore[method-assign,assignment]
    from uvicorn.main import main

    main()
