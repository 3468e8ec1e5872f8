"""Bearer token, TLS and mTLS end to end from the CLI (real subprocesses, certificates made
with openssl), and the rule that a server refuses a non-loopback bind with neither."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
TOKEN = "s3cret-token-for-tests"
HOSTED = ("dataset", "registry")  # enough for health + a token-protected call (adapters list)


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_pki(d: Path) -> Path:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=tuneforge test CA", cwd=d)
    (d / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return d


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNEFORGE_")}
    return subprocess.run([sys.executable, "-m", "tuneforge.cli.main", *args], check=False, capture_output=True, text=True,
                          timeout=timeout, env=env)


def run_all(*commands: list[str]) -> list[subprocess.CompletedProcess]:
    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda argv: cli(*argv), commands))


def test_tls_with_token_from_the_cli(server_factory, pki):
    srv = server_factory(services=HOSTED, auth_token=TOKEN, tls_cert=str(pki / "server.pem"), tls_key=str(pki / "server.key"))
    target = f"localhost:{srv.port}"
    tls = ["--target", target, "--timeout", "5", "--tls"]
    ok_health, no_ca, ok_list, wrong_token, no_token, plaintext = run_all(
        ["health", *tls, "--ca", str(pki / "ca.pem")],
        ["health", *tls],                                      # system roots do not trust our CA
        ["adapters", "list", *tls, "--ca", str(pki / "ca.pem"), "--token", TOKEN],
        ["adapters", "list", *tls, "--ca", str(pki / "ca.pem"), "--token", "wrong"],
        ["adapters", "list", *tls, "--ca", str(pki / "ca.pem")],
        ["adapters", "list", "--target", target, "--timeout", "5", "--token", TOKEN],
    )
    assert ok_health.returncode == 0, ok_health.stderr
    assert "server    SERVING" in ok_health.stdout and "registry  SERVING" in ok_health.stdout
    assert no_ca.returncode != 0 and "UNREACHABLE" in no_ca.stdout
    assert ok_list.returncode == 0, ok_list.stderr
    for denied in (wrong_token, no_token):
        assert denied.returncode == 8 and "UNAUTHENTICATED" in denied.stderr, denied.stderr
    assert plaintext.returncode != 0


def test_mtls_needs_the_client_certificate(server_factory, pki):
    srv = server_factory(services=HOSTED, auth_token=TOKEN, tls_cert=str(pki / "server.pem"), tls_key=str(pki / "server.key"),
                         tls_client_ca=str(pki / "ca.pem"))
    base = ["--target", f"localhost:{srv.port}", "--timeout", "5", "--tls", "--ca", str(pki / "ca.pem")]
    client_cert = ["--cert", str(pki / "client.pem"), "--key", str(pki / "client.key")]
    ok_health, no_cert, ok_list = run_all(
        ["health", *base, *client_cert],
        ["health", *base],
        ["adapters", "list", *base, *client_cert, "--token", TOKEN, "--json"],
    )
    assert ok_health.returncode == 0, ok_health.stderr
    assert no_cert.returncode != 0 and "UNREACHABLE" in no_cert.stdout
    assert ok_list.returncode == 0, ok_list.stderr


def test_serve_refuses_a_wide_bind_without_token_or_tls(tmp_path):
    out = cli("serve", "all", "--host", "0.0.0.0", "--port", "0", "--data-root", str(tmp_path / "var"), timeout=60)
    assert out.returncode != 0
    assert "refusing to listen on 0.0.0.0" in out.stderr and "auth_token" in out.stderr
    assert not (tmp_path / "var" / "state.db").exists()
