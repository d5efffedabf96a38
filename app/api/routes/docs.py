"""Interactive docs whose JavaScript and CSS come from this app, not from a CDN."""

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, RedirectResponse

from app.api import problems
from app.api.problems import ERRORS_PAGE

STATIC = "/static/swagger-ui"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    # What a person opening the service's address in a browser is looking for.
    return RedirectResponse("/docs", status_code=307)


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Heroes API - docs",
        swagger_js_url=f"{STATIC}/swagger-ui-bundle.js",
        swagger_css_url=f"{STATIC}/swagger-ui.css",
        swagger_favicon_url=f"{STATIC}/favicon-32x32.png",
        oauth2_redirect_url=OAUTH2_REDIRECT,
        # The public validator badge would call out to another host.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get(ERRORS_PAGE)
async def errors_page() -> HTMLResponse:
    # Where a problem document's `type` points (app/api/problems.py).
    return HTMLResponse(problems.errors_page())


@router.get(OAUTH2_REDIRECT)
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()
