"""Console login: wrong tokens are throttled per address (429 + Retry-After) and logged
without the token, the login form works without JavaScript and never puts the token in the
URL, every HTML response carries the page headers, and a weak token is refused beyond
loopback by the gRPC server's own rule."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import structlog

from tests.web.conftest import TOKEN

LOGIN_HTML = Path(__file__).resolve().parents[2] / "tuneforge" / "web" / "static" / "login.html"
LIMIT = 5  # LoginThrottle's default: wrong tokens per address per minute


@pytest.fixture
def guarded(server_factory, web_factory):
    server = server_factory(auth_token=TOKEN)
    return web_factory(server.target, TOKEN)


def wrong_logins(url: str, count: int) -> list[int]:
    with httpx.Client(base_url=url, timeout=30) as http:
        return [http.post("/auth/login", json={"token": f"guess-{i}"}).status_code for i in range(count)]


def test_wrong_logins_past_the_limit_get_429_with_retry_after(guarded):
    assert wrong_logins(guarded.url, LIMIT) == [401] * LIMIT
    refused = httpx.post(f"{guarded.url}/auth/login", json={"token": "one-more-guess"})
    assert (refused.status_code, refused.json()["error"]["reason"]) == (429, "TOO_MANY_FAILED_LOGINS")
    assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_a_locked_out_address_learns_nothing_even_from_the_right_token(guarded):
    wrong_logins(guarded.url, LIMIT)
    response = httpx.post(f"{guarded.url}/auth/login", json={"token": TOKEN})
    assert response.status_code == 429 and "set-cookie" not in response.headers


def test_wrong_bearer_tokens_count_against_the_same_limit(guarded):
    with httpx.Client(base_url=guarded.url, timeout=30) as http:
        codes = [http.get("/admin/finetune/datasets", headers={"authorization": f"Bearer guess-{i}"}).status_code
                 for i in range(LIMIT + 1)]
        assert codes == [401] * LIMIT + [429]
        assert http.post("/auth/login", json={"token": TOKEN}).status_code == 429


def test_a_right_token_clears_the_failures_of_its_address(guarded):
    wrong_logins(guarded.url, LIMIT - 1)
    assert httpx.post(f"{guarded.url}/auth/login", json={"token": TOKEN}).status_code == 200
    assert wrong_logins(guarded.url, LIMIT) == [401] * LIMIT


def test_another_sites_page_can_neither_log_in_nor_lock_the_user_out(guarded):
    foreign = {"origin": "http://evil.example"}
    for _ in range(LIMIT + 1):
        response = httpx.post(f"{guarded.url}/auth/login", data={"token": "guess"}, headers=foreign)
        assert (response.status_code, response.json()["error"]["reason"]) == (403, "CSRF_FAILED")
    assert httpx.post(f"{guarded.url}/auth/login", json={"token": TOKEN}, headers=foreign).status_code == 403
    assert httpx.post(f"{guarded.url}/auth/login", json={"token": TOKEN}).status_code == 200


async def test_after_the_window_the_right_token_logs_in_again():
    from tuneforge.web.app import create_app
    from tuneforge.web.grpc_api import Backend
    from tuneforge.web.throttle import LoginThrottle

    now = [1000.0]
    backend = Backend("127.0.0.1:1")  # never called: logging in asks no service
    app = create_app(backend, token=TOKEN, throttle=LoginThrottle(failures=3, window_seconds=60, clock=lambda: now[0]))
    transport = httpx.ASGITransport(app=app, client=("192.0.2.9", 40000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            assert [(await http.post("/auth/login", json={"token": "x"})).status_code for _ in range(3)] == [401] * 3
            now[0] += 59
            assert (await http.post("/auth/login", json={"token": TOKEN})).status_code == 429
            now[0] += 1
            assert (await http.post("/auth/login", json={"token": TOKEN})).status_code == 200
    finally:
        await backend.close()


def test_each_wrong_login_is_logged_with_the_address_and_never_the_token(guarded):
    with structlog.testing.capture_logs() as logs:
        httpx.post(f"{guarded.url}/auth/login", json={"token": "secret-guess-123"})
    [failed] = [e for e in logs if e["event"] == "web_login_failed"]
    assert (failed["client"], failed["via"], failed["failures"]) == ("127.0.0.1", "login", 1)
    assert "secret-guess-123" not in repr(logs) and TOKEN not in repr(logs)


def test_the_login_form_posts_the_token_in_the_body():
    form = re.search(r"<form\b[^>]*>", LOGIN_HTML.read_text()).group(0)
    assert 'method="post"' in form and 'action="/auth/login"' in form


def test_a_form_login_without_javascript_sets_the_cookie_and_opens_the_console(guarded):
    response = httpx.post(f"{guarded.url}/auth/login", data={"token": TOKEN}, headers={"accept": "text/html"})
    assert (response.status_code, response.headers["location"]) == (303, "/")
    assert "tuneforge_session=" in response.headers["set-cookie"]


def test_a_wrong_form_login_without_javascript_shows_a_page(guarded):
    response = httpx.post(f"{guarded.url}/auth/login", data={"token": "nope"}, headers={"accept": "text/html"})
    assert response.status_code == 401 and response.headers["content-type"].startswith("text/html")
    assert "not valid" in response.text and "set-cookie" not in response.headers


@pytest.mark.parametrize("path", ["/login", "/static/login.html", "/static/index.html"])
def test_every_html_response_carries_the_page_headers(guarded, path):
    response = httpx.get(f"{guarded.url}{path}")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    headers = response.headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert (headers["x-frame-options"], headers["x-content-type-options"], headers["referrer-policy"]) == \
        ("DENY", "nosniff", "same-origin")
    assert headers["cache-control"] == "no-store"


def test_beyond_loopback_tls_alone_is_not_enough_for_the_console():
    from tuneforge.web.server import InsecureBind, WebSettings, check_bind_policy

    with pytest.raises(InsecureBind, match="needs a token"):
        check_bind_policy(WebSettings(target="localhost:50051", host="0.0.0.0", tls_cert="server.pem", tls_key="server.key"))
