"""The web console's pages: ``/`` redirects to ``/console/``; every ``/console/...`` page is the
same ``index.html`` (the console routes in the browser), its assets under ``/console/assets/``.

Pages carry a strict Content-Security-Policy: scripts, styles and connections only from this
server, no inline script, no framing. The assets are fixed files shipped in the package, revalidated
by ETag on every load (``no-cache``) so an upgraded server never mixes old and new modules."""

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

_STATIC = files("threadline.console") / "static"
_INDEX = (_STATIC / "index.html").read_bytes()

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        # Images of files are fetched with the key and shown from blob: URLs.
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cache-control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=307)


@router.get("/console")
@router.get("/console/{page:path}")
async def console_page() -> Response:
    return Response(_INDEX, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


class _Assets(StaticFiles):
    """The package's static files with the pages' security headers."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: dict) -> None:  # type: ignore[type-arg]
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", ()),
                    *((name.encode(), value.encode()) for name, value in PAGE_HEADERS.items()),
                ]
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


def assets_mount() -> Mount:
    """Mounted before the pages' catch-all route, so that assets are not answered with a page."""
    # Compressed when the browser accepts it: a cold load transfers about 20 KiB instead of 53.
    assets = GZipMiddleware(_Assets(directory=str(_STATIC)), minimum_size=1024)
    return Mount("/console/assets", app=assets, name="console-assets")
