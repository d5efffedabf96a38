"""Clients for the app under test.

In sync mode: Starlette's TestClient. In async mode the app must run on the test's
own event loop (asyncmode.py), so requests go through httpx's ASGI transport
and are awaited from the test's sync code with `await_`. Both return httpx responses.
"""

import warnings
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from app.testing.asyncmode import ASYNC_MODE, run_async

with warnings.catch_warnings():
    # Starlette asks for httpx2; httpx is still the one FastAPI documents. The plugin's
    # choice, not a warning for every suite that loads it.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient


async def _streamed(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


class GreenletClient:
    """TestClient's request methods, for an app served on the test's event loop."""

    def __init__(self, app: FastAPI, *, raise_server_exceptions: bool = True) -> None:
        self.app = app
        transport = httpx.ASGITransport(app, raise_app_exceptions=raise_server_exceptions)
        self._client = httpx.AsyncClient(
            transport=transport, base_url="http://testserver", follow_redirects=True
        )

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        content = kwargs.get("content")
        if isinstance(content, Iterable) and not isinstance(content, bytes | str):
            kwargs["content"] = _streamed(content)  # AsyncClient streams async iterables only
        return run_async(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("HEAD", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("OPTIONS", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def close(self) -> None:
        run_async(self._client.aclose())


AppClient = TestClient | GreenletClient


@contextmanager
def app_client(app: FastAPI, *, raise_server_exceptions: bool = True) -> Iterator[AppClient]:
    """A client for `app`, with its lifespan run around the test like TestClient does."""
    if not ASYNC_MODE:
        with TestClient(app, raise_server_exceptions=raise_server_exceptions) as test_client:
            yield test_client
        return
    lifespan = app.router.lifespan_context(app)
    run_async(lifespan.__aenter__())
    client = GreenletClient(app, raise_server_exceptions=raise_server_exceptions)
    try:
        yield client
    finally:
        client.close()
        run_async(lifespan.__aexit__(None, None, None))
