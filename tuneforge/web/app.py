"""The console's ASGI app: pages, login, the JSON API and its security, wired together.

``create_app(backend, token=..., secure=...)`` is all a server needs; the ``Backend`` is the
only thing that talks to the services.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tuneforge.client import TuneforgeClientError
from tuneforge.web import routes_llm, routes_tts
from tuneforge.web.grpc_api import Backend, ConfigError
from tuneforge.web.http import ApiError, json_body, on_api_error, on_client_error, on_config_error
from tuneforge.web.security import COOKIE, AuthMiddleware, Sessions

STATIC = Path(__file__).resolve().parent / "static"
NO_STORE = {"cache-control": "no-store"}
# Pages load only their own scripts and styles: no inline script, nothing from elsewhere.
PAGE_HEADERS = {
    **NO_STORE,
    "content-security-policy": "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


async def index(request: Request) -> Response:
    """The console page; on a server without a token it opens a session by itself."""
    response = FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)
    sessions: Sessions = request.app.state.sessions
    if request.state.session is None and not sessions.auth_required and request.state.auth != "bearer":
        response.set_cookie(**sessions.cookie(sessions.open()))
    return response


async def login_page(request: Request) -> Response:
    if not request.app.state.sessions.auth_required:
        return RedirectResponse("/", 303)
    return FileResponse(STATIC / "login.html", headers=PAGE_HEADERS)


async def login(request: Request) -> Response:
    """``{"token": ...}`` (JSON or a form) → a session cookie and the CSRF token."""
    sessions: Sessions = request.app.state.sessions
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        token = str((await request.form()).get("token") or "")
    else:
        token = str((await json_body(request)).get("token") or "")
    if sessions.auth_required and not sessions.token_matches(token):
        raise ApiError(401, "INVALID_TOKEN", "that token is not valid", {"token": "not the server's token"})
    session = sessions.open()
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


def create_app(backend: Backend, *, token: str = "", secure: bool = False, own_backend: bool = True) -> Starlette:
    sessions = Sessions(token, secure)

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
        *routes_llm.ROUTES,
        *routes_tts.ROUTES,
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(AuthMiddleware, sessions=sessions)],
        exception_handlers={TuneforgeClientError: on_client_error, ApiError: on_api_error, ConfigError: on_config_error},
        lifespan=lifespan,
    )
    app.state.backend = backend
    app.state.sessions = sessions
    return app
