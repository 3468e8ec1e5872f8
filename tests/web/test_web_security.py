"""Who may use the console: token login → HttpOnly SameSite=Strict cookie, CSRF on every
state-changing request, bearer tokens for scripts, loopback-only without a token."""

from __future__ import annotations

import contextlib
import shutil
import ssl
from collections.abc import Iterator

import httpx
import pytest

from tests.web.conftest import TOKEN


@pytest.fixture
def guarded(server_factory, web_factory):
    """A console in front of a server that requires a token."""
    server = server_factory(auth_token=TOKEN)
    return web_factory(server.target, TOKEN)


@contextlib.contextmanager
def logged_in(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30) as http:
        response = http.post("/auth/login", json={"token": TOKEN})
        assert response.status_code == 200
        http.headers["x-csrf-token"] = response.json()["csrf_token"]
        yield http


def test_login_sets_an_httponly_samesite_strict_cookie(guarded):
    response = httpx.post(f"{guarded.url}/auth/login", json={"token": TOKEN})
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain HTTP on loopback; set under TLS


def test_a_wrong_token_is_refused_at_the_token_field(guarded):
    response = httpx.post(f"{guarded.url}/auth/login", json={"token": "nope"})
    assert response.status_code == 401
    assert response.json()["error"]["field_violations"] == [{"field": "token", "description": "not the server's token"}]
    assert "set-cookie" not in response.headers


def test_without_a_login_pages_redirect_and_the_api_answers_401(guarded):
    page = httpx.get(f"{guarded.url}/", headers={"accept": "text/html"})
    assert (page.status_code, page.headers["location"]) == (303, "/login")
    api = httpx.get(f"{guarded.url}/admin/finetune/datasets")
    assert (api.status_code, api.json()["error"]["reason"]) == (401, "LOGIN_REQUIRED")


def test_a_session_reads_and_writes_with_its_csrf_token(guarded):
    with logged_in(guarded.url) as http:
        assert http.get("/admin/finetune/datasets").status_code == 200
        assert http.put("/admin/finetune/config", json={"values": {"seed": 7}}).status_code == 200


def test_a_state_change_without_the_csrf_token_is_refused(guarded):
    with logged_in(guarded.url) as http:
        del http.headers["x-csrf-token"]
        response = http.put("/admin/finetune/config", json={"values": {"seed": 7}})
        assert (response.status_code, response.json()["error"]["reason"]) == (403, "CSRF_FAILED")
        http.headers["x-csrf-token"] = "forged"
        assert http.delete("/admin/finetune/datasets/x").status_code == 403


def test_a_cross_origin_state_change_is_refused_even_with_the_token(guarded):
    with logged_in(guarded.url) as http:
        response = http.post("/admin/finetune/adapters/deactivate", headers={"origin": "http://evil.example"})
        assert response.status_code == 403


def test_a_bearer_token_works_without_a_session_or_csrf(guarded):
    headers = {"authorization": f"Bearer {TOKEN}"}
    assert httpx.put(f"{guarded.url}/admin/finetune/config", json={"values": {"seed": 7}}, headers=headers).status_code == 200
    wrong = httpx.get(f"{guarded.url}/admin/finetune/datasets", headers={"authorization": "Bearer nope"})
    assert (wrong.status_code, wrong.json()["error"]["reason"]) == (401, "INVALID_TOKEN")


def test_logout_ends_the_session(guarded):
    with logged_in(guarded.url) as http:
        assert http.post("/auth/logout").status_code == 200
        assert http.get("/admin/finetune/datasets").status_code == 401


def test_without_a_token_a_foreign_page_still_cannot_change_anything(web):
    """Loopback without a token: reads are open, but a write needs the session's CSRF token."""
    assert httpx.get(f"{web.url}/admin/finetune/datasets").status_code == 200
    assert httpx.post(f"{web.url}/admin/finetune/adapters/deactivate").status_code == 403
    with httpx.Client(base_url=web.url) as http:
        http.get("/")  # the page opens a session
        assert http.post("/admin/finetune/adapters/deactivate").status_code == 403


def test_pages_forbid_foreign_scripts_and_framing(web):
    headers = httpx.get(f"{web.url}/").headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


def test_the_console_refuses_to_listen_beyond_loopback_without_a_token():
    from tuneforge.web.server import InsecureBind, WebSettings, check_bind_policy

    with pytest.raises(InsecureBind):
        check_bind_policy(WebSettings(target="localhost:50051", host="0.0.0.0"))
    check_bind_policy(WebSettings(target="localhost:50051", host="0.0.0.0", token="a-token-of-24-characters"))
    check_bind_policy(WebSettings(target="localhost:50051", host="127.0.0.1"))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_over_tls_the_console_speaks_https_and_its_cookie_is_secure(server_factory, web_factory, tmp_path):
    from tests.ops.test_security_cli import make_pki

    pki = make_pki(tmp_path)
    cert, key, ca = str(pki / "server.pem"), str(pki / "server.key"), str(pki / "ca.pem")
    server = server_factory(auth_token=TOKEN, tls_cert=cert, tls_key=key)
    web = web_factory(f"localhost:{server.port}", TOKEN, tls_cert=cert, tls_key=key, grpc_tls=True, grpc_ca=ca)
    assert web.url.startswith("https://")
    context = ssl.create_default_context(cafile=ca)
    with httpx.Client(base_url=web.url, verify=context, timeout=30) as http:
        login = http.post("/auth/login", json={"token": TOKEN})
        assert "secure" in login.headers["set-cookie"].lower()
        assert http.get("/admin/finetune/datasets").json() == {"datasets": []}
