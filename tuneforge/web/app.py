"""The console's ASGI app: pages, login, the JSON API and its security, wired together.

``create_app(backend, token=..., secure=..., allowed_hosts=...)`` is all a server needs; the
``Backend`` is the only thing that talks to the services. In front of every route, outermost
first: the page headers and the Host allow-list (``guards.py``), then who may use it
(``security.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tuneforge.client import TuneforgeClientError
from tuneforge.web import routes_llm, routes_seed, routes_tts
from tuneforge.web.grpc_api import Backend, ConfigError
from tuneforge.web.http import ApiError, json_body, on_api_error, on_client_error, on_config_error
from tuneforge.web.guards import HostAllowList, HostCheckMiddleware, PageHeadersMiddleware
from tuneforge.web.security import COOKIE, AuthMiddleware, Sessions, same_origin, too_many_failures
from tuneforge.web.throttle import LoginThrottle, client_address

STATIC = Path(__file__).resolve().parent / "static"
NO_STORE = {"cache-control": "no-store"}


async def index(request: Request) -> Response:
    """The console page; on a server without a token it opens a session by itself."""
    response = FileResponse(STATIC / "index.html")
    sessions: Sessions = request.app.state.sessions
    if request.state.session is None and not sessions.auth_required:
        response.set_cookie(**sessions.cookie(sessions.open()))
    return response


async def login_page(request: Request) -> Response:
    if not request.app.state.sessions.auth_required:
        return RedirectResponse("/", 303)
    return FileResponse(STATIC / "login.html")


def _refused_page(message: str, status: int, headers: dict[str, str] | None = None) -> HTMLResponse:
    """What a login form posted without JavaScript shows when it is refused."""
    body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Log in · tuneforge</title>'
            f'<link rel="stylesheet" href="/static/app.css"></head><body><div class="card login"><div class="body">'
            f'<p>{message}</p><p><a href="/login">Back to the login page</a></p></div></div></body></html>')
    return HTMLResponse(body, status, headers=headers)


async def login(request: Request) -> Response:
    """``{"token": ...}`` (JSON or a form) → a session cookie and the CSRF token.

    A form posted by a browser without JavaScript (``Accept: text/html``) gets pages instead:
    303 to the console, or a page saying why not. Wrong tokens count against the client's
    address; past the limit every try is 429 and its token is not checked. A login another
    site's page posts is refused before it counts: such a page could otherwise lock the
    user's own address out.
    """
    if not same_origin(request):
        raise ApiError(403, "CSRF_FAILED", "cross-origin login refused")
    sessions: Sessions = request.app.state.sessions
    throttle: LoginThrottle = request.app.state.throttle
    is_form = request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    wants_page = is_form and "text/html" in request.headers.get("accept", "")
    if is_form:
        token = str((await request.form()).get("token") or "")
    else:
        token = str((await json_body(request)).get("token") or "")
    if sessions.auth_required:
        client = client_address(request.scope)
        if wait := throttle.retry_after(client):
            refused = too_many_failures(wait)
            if wants_page:
                return _refused_page("Too many wrong tokens from this address: try again in "
                                     f"{refused.headers['retry-after']} s.", 429, {"retry-after": refused.headers["retry-after"]})
            return refused
        if not sessions.token_matches(token):
            throttle.failed(client, "login")
            if wants_page:
                return _refused_page("That token is not valid.", 401)
            raise ApiError(401, "INVALID_TOKEN", "that token is not valid", {"token": "not the server's token"})
        throttle.succeeded(client)
    session = sessions.open()
    response: Response
    if wants_page:
        response = RedirectResponse("/", 303)
    else:
        response = JSONResponse({"csrf_token": session.csrf, "auth_required": sessions.auth_required})
    response.set_cookie(**sessions.cookie(session))
    return response


async def logout(request: Request) -> Response:
    sessions: Sessions = request.app.state.sessions
    sessions.close(request.cookies.get(COOKIE))
    response = JSONResponse({"logged_out": True})
    response.delete_cookie(COOKIE, path="/")
    return response


async def session_info(request: Request) -> Response:
    """The CSRF token of this browser's session (a foreign page cannot read it)."""
    sessions: Sessions = request.app.state.sessions
    session = request.state.session
    response = JSONResponse({"auth_required": sessions.auth_required, "csrf_token": session.csrf if session else "",
                             "auth": request.state.auth, "target": request.app.state.backend.target}, headers=NO_STORE)
    if session is None and request.state.auth == "anonymous":
        session = sessions.open()
        response = JSONResponse({"auth_required": False, "csrf_token": session.csrf, "auth": "session",
                                 "target": request.app.state.backend.target}, headers=NO_STORE)
        response.set_cookie(**sessions.cookie(session))
    return response


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_app(backend: Backend, *, token: str = "", secure: bool = False, own_backend: bool = True,
               allowed_hosts: Iterable[str] = (), throttle: LoginThrottle | None = None) -> Starlette:
    """``allowed_hosts``: names the console answers to besides loopback and IP addresses."""
    sessions = Sessions(token, secure)
    throttle = throttle or LoginThrottle()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if own_backend:
                await backend.close()

    routes: list[Any] = [
        Route("/", index),
        Route("/login", login_page),
        Route("/auth/login", login, methods=["POST"]),
        Route("/auth/logout", logout, methods=["POST"]),
        Route("/auth/session", session_info),
        Route("/healthz", healthz),
        *routes_seed.ROUTES,
        *routes_llm.ROUTES,
        *routes_tts.ROUTES,
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(PageHeadersMiddleware),
            Middleware(HostCheckMiddleware, allowed=HostAllowList(allowed_hosts)),
            Middleware(AuthMiddleware, sessions=sessions, throttle=throttle),
        ],
        exception_handlers={TuneforgeClientError: on_client_error, ApiError: on_api_error, ConfigError: on_config_error},
        lifespan=lifespan,
    )
    app.state.backend = backend
    app.state.sessions = sessions
    app.state.throttle = throttle
    return app
