"""/docs in a real headless Chromium, with every host but the service cut off."""

from contextlib import suppress
from urllib.parse import urlsplit

import httpx
import pytest

from tests.ops.browser import CHROMIUM, Browser, offline_flags
from tests.ops.service import service

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} not found: install Debian's chromium package (.ci/run does)",
)

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
OPBLOCK_IDS = "Array.from(document.querySelectorAll('.opblock')).map(e => e.id)"


def swagger_ids(document: dict) -> set[str]:
    """The element id Swagger UI gives each operation: operations-<tag>-<operationId>."""
    return {
        f"operations-{operation['tags'][0]}-{operation['operationId']}"
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def test_docs_render_every_operation_without_leaving_the_host(tmp_path):
    with service(tmp_path) as server:
        expected = swagger_ids(httpx.get(f"{server.url}/openapi.json", timeout=30).json())
        browser = Browser(tmp_path, offline_flags("127.0.0.1"))
        try:
            browser.navigate(f"{server.url}/docs")
            browser.wait_for(f"document.querySelectorAll('.opblock').length >= {len(expected)}")
            rendered = set(browser.evaluate(OPBLOCK_IDS) or [])
            browser.wait_for_quiet_network()
            elsewhere = [
                url for url in browser.requested_urls()
                if urlsplit(url).scheme not in ("data", "blob", "about")
                and urlsplit(url).hostname != "127.0.0.1"
            ]

            assert rendered == expected
            assert elsewhere == []
        except BaseException:
            # Kept in the test's temporary folder, beside server.log and chromium.log.
            with suppress(RuntimeError, TimeoutError, OSError):
                browser.screenshot(tmp_path / "docs.png")
            raise
        finally:
            browser.close()
