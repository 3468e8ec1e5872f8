"""Who may use the console, and CSRF: one pure ASGI middleware in front of every route.

Two ways in:

* ``Authorization: Bearer TOKEN`` (the gRPC servers' token) on each request, for scripts and
  other admin panels. A browser never adds that header by itself, so these requests need no
  CSRF token. Only on a console with a token: without one, a bearer header is refused (401
  ``BEARER_NOT_ENABLED``), so no request can skip the CSRF check by carrying one.
* A session cookie from ``POST /auth/login`` with the same token (``HttpOnly``,
  ``SameSite=Strict``, ``Secure`` under TLS). Every state-changing request on a session must
  carry its CSRF token in ``X-CSRF-Token`` (the page reads it from ``GET /auth/session``,
  which a foreign site cannot read) and, when the browser sends ``Origin``, come from this
  very host. With no token configured (loopback only), the first page visit opens a session
  by itself; the CSRF rule still holds, so a foreign page cannot drive a local console.

A wrong token, at the login or as a bearer header, counts against the client's address in
the :class:`~tuneforge.web.throttle.LoginThrottle` (429 past its limit). The Host allow-list
that stops DNS rebinding sits in front of this (``guards.py``).
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, RedirectResponse

from tuneforge.web.throttle import LoginThrottle, client_address

COOKIE = "tuneforge_session"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
PUBLIC_PREFIXES = ("/static/", "/login", "/auth/login", "/healthz", "/favicon.ico")


@dataclass
class Session:
    id: str
    csrf: str
    expires: float = field(default_factory=lambda: time.time() + SESSION_SECONDS)


class Sessions:
    """In-memory sessions: a console restart logs everyone out, which is the safe default."""

    def __init__(self, token: str, secure: bool) -> None:
        self.token = token
        self.secure = secure
        self._sessions: dict[str, Session] = {}

    @property
    def auth_required(self) -> bool:
        return bool(self.token)

    def token_matches(self, presented: str) -> bool:
        return bool(self.token) and hmac.compare_digest(presented.encode(), self.token.encode())

    def open(self) -> Session:
        now = time.time()
        for sid in [s for s, sess in self._sessions.items() if sess.expires < now]:
            del self._sessions[sid]
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        self._sessions[session.id] = session
        return session

    def get(self, sid: str | None) -> Session | None:
        session = self._sessions.get(sid or "")
        if session is None or session.expires < time.time():
            return None
        return session

    def close(self, sid: str | None) -> None:
        self._sessions.pop(sid or "", None)

    def cookie(self, session: Session) -> dict[str, Any]:
        """Keyword arguments for ``Response.set_cookie``."""
        return {"key": COOKIE, "value": session.id, "max_age": SESSION_SECONDS, "path": "/",
                "httponly": True, "samesite": "strict", "secure": self.secure}


def _bearer(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def same_origin(conn: HTTPConnection) -> bool:
    """No ``Origin`` (not a browser's cross-site request), or this very host."""
    origin = conn.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc.lower() == conn.headers.get("host", "").lower()


def _error(status: int, reason: str, message: str) -> JSONResponse:
    code = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}[status]
    return JSONResponse({"error": {"code": code, "reason": reason, "message": message}}, status)


def too_many_failures(retry_after: float) -> JSONResponse:
    """429 for an address past its failed-login limit (the token it sent is not checked)."""
    seconds = max(int(retry_after + 0.999), 1)
    body = {"error": {"code": "RESOURCE_EXHAUSTED", "reason": "TOO_MANY_FAILED_LOGINS",
                      "message": f"too many wrong tokens from this address: try again in {seconds} s"}}
    return JSONResponse(body, 429, headers={"retry-after": str(seconds)})


class AuthMiddleware:
    """Lets a request through with ``scope["state"]["session"]`` set, or answers 401/403."""

    def __init__(self, app: Any, sessions: Sessions, throttle: LoginThrottle) -> None:
        self.app = app
        self.sessions = sessions
        self.throttle = throttle

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        conn = HTTPConnection(scope)
        path = scope["path"]
        state = scope.setdefault("state", {})
        state["session"] = None
        if path.startswith(PUBLIC_PREFIXES):
            return await self.app(scope, receive, send)
        denied = self._check(conn, state)
        if denied is not None:
            return await denied(scope, receive, send)
        return await self.app(scope, receive, send)

    def _check(self, conn: HTTPConnection, state: dict[str, Any]) -> Any:
        bearer = _bearer(conn)
        if bearer is not None:
            return self._check_bearer(bearer, conn, state)
        session = self.sessions.get(conn.cookies.get(COOKIE))
        if session is None:
            if self.sessions.auth_required:
                if conn.scope["method"] == "GET" and "text/html" in conn.headers.get("accept", ""):
                    return RedirectResponse("/login", 303)
                return _error(401, "LOGIN_REQUIRED", "log in at /login or send Authorization: Bearer TOKEN")
            if conn.scope["method"] not in SAFE_METHODS:
                return _error(403, "CSRF_FAILED", "no session: open the console or GET /auth/session first")
            state["auth"] = "anonymous"  # loopback without a token; the route may open a session
            return None
        state["session"], state["auth"] = session, "session"
        if conn.scope["method"] in SAFE_METHODS:
            return None
        presented = conn.headers.get(CSRF_HEADER, "")
        if not presented or not hmac.compare_digest(presented.encode(), session.csrf.encode()):
            return _error(403, "CSRF_FAILED", f"missing or wrong {CSRF_HEADER} header")
        if not same_origin(conn):
            return _error(403, "CSRF_FAILED", "cross-origin request refused")
        return None

    def _check_bearer(self, bearer: str, conn: HTTPConnection, state: dict[str, Any]) -> Any:
        if not self.sessions.auth_required:
            return _error(401, "BEARER_NOT_ENABLED", "this console has no token, so it takes no bearer tokens: "
                                                     "send no Authorization header and use a session (GET /auth/session)")
        client = client_address(conn.scope)
        if wait := self.throttle.retry_after(client):
            return too_many_failures(wait)
        if not self.sessions.token_matches(bearer):
            self.throttle.failed(client, "bearer")
            return _error(401, "INVALID_TOKEN", "the bearer token is not valid")
        self.throttle.succeeded(client)
        state["auth"] = "bearer"
        return None
