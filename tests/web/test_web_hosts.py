"""DNS rebinding: the console answers only to its own names (loopback, IP addresses, the
configured ones) on every route, and without a token a bearer header never skips CSRF."""

from __future__ import annotations

import httpx
import pytest

ROUTES = ["/", "/login", "/static/app.js", "/static/index.html", "/healthz", "/auth/session",
          "/admin/finetune/datasets", "/admin/finetune/jobs/job-x/events"]


@pytest.mark.parametrize("path", ROUTES)
def test_a_foreign_host_is_refused_on_every_route(web, path):
    response = httpx.get(f"{web.url}{path}", headers={"host": "evil.example"})
    assert response.status_code == 421
    assert response.headers["content-type"].startswith("text/plain")
    assert "evil.example" in response.text and "web_allowed_hosts" in response.text


def test_a_foreign_host_cannot_post_either(web):
    response = httpx.post(f"{web.url}/admin/finetune/adapters/deactivate", headers={"host": "rebound.evil.example:8080"})
    assert response.status_code == 421


def test_a_rebound_page_cannot_open_a_session_to_read_the_csrf_token(web):
    response = httpx.get(f"{web.url}/auth/session", headers={"host": "evil.example:80"})
    assert response.status_code == 421 and "set-cookie" not in response.headers


@pytest.mark.parametrize("host", ["localhost", "localhost:8080", "127.0.0.1", "127.0.0.1:9", "127.0.0.2:8080",
                                  "[::1]", "[::1]:8080", "192.0.2.7:8080", "[2001:db8::1]:443", "LOCALHOST"])
def test_loopback_names_and_ip_addresses_are_answered(web, host):
    assert httpx.get(f"{web.url}/healthz", headers={"host": host}).status_code == 200


def test_a_request_without_a_host_is_refused(web):
    # HTTP/1.0 allows no Host; h11 (uvicorn) takes it, the allow-list does not.
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(web.url)
    with socket.create_connection((where.hostname, where.port), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 421")


def test_a_configured_name_is_answered_on_any_port(server, web_factory):
    web = web_factory(server.target, allowed_hosts="console.example.com, other.example:8443")
    assert httpx.get(f"{web.url}/healthz", headers={"host": "console.example.com:1234"}).status_code == 200
    assert httpx.get(f"{web.url}/healthz", headers={"host": "Console.Example.Com"}).status_code == 200


def test_a_configured_name_with_a_port_is_answered_on_that_port_only(server, web_factory):
    web = web_factory(server.target, allowed_hosts="other.example:8443")
    assert httpx.get(f"{web.url}/healthz", headers={"host": "other.example:8443"}).status_code == 200
    assert httpx.get(f"{web.url}/healthz", headers={"host": "other.example:80"}).status_code == 421
    assert httpx.get(f"{web.url}/healthz", headers={"host": "other.example"}).status_code == 421


def test_without_a_token_a_bearer_header_is_refused_and_changes_nothing(web):
    before = httpx.get(f"{web.url}/admin/finetune/config").json()["config"]["seed"]
    response = httpx.put(f"{web.url}/admin/finetune/config", json={"values": {"seed": before + 1}},
                         headers={"authorization": "Bearer anything"})
    assert (response.status_code, response.json()["error"]["reason"]) == (401, "BEARER_NOT_ENABLED")
    assert httpx.get(f"{web.url}/admin/finetune/config").json()["config"]["seed"] == before
