"""The console is a client like any other: it imports only the SDK and the generated stubs,
ships its assets in the package, loads nothing from the network, and runs beside the
services with ``serve all --web-port``."""

from __future__ import annotations

import ast
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
from tuneforge.testing.paths import source_path

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "tuneforge" / "web"
STUBS = re.compile(r"^tuneforge\.(common|dataset|trainer|tts|registry|jobs)\.v1(\.|$)")


def tuneforge_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n for n in names if n.startswith("tuneforge")}


def test_the_web_package_imports_only_the_client_and_the_stubs():
    for path in WEB.glob("*.py"):
        for name in tuneforge_imports(path):
            allowed = name.startswith(("tuneforge.client", "tuneforge.web")) or STUBS.match(name)
            assert allowed, f"{path.name} imports {name}: the console may use only tuneforge.client and the stubs"


def test_importing_the_app_loads_no_service_and_no_runtime():
    code = ("import sys, tuneforge.web.app, tuneforge.web.server; "
            "print(sorted(m for m in sys.modules if m.startswith(('tuneforge.services', 'tuneforge.runtime', 'torch'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_the_assets_load_nothing_from_elsewhere():
    for path in (WEB / "static").iterdir():
        text = path.read_text()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), path.name
        assert "@import" not in text and "cdn" not in text.lower(), path.name


def test_the_assets_ship_in_the_package():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"tuneforge.web" = ["static/*"]' in pyproject


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_all_with_a_web_port_serves_the_console(tmp_path):
    env = {**os.environ, "PYTHONPATH": source_path()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuneforge.cli.main", "serve", "all", "--port", "0", "--web-port", str(free_port()), "--data-root", str(tmp_path / "var")],
        cwd=REPO, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        url = None
        for line in proc.stderr:
            if found := re.search(r"web console on (http://\S+)", line):
                url = found.group(1)
                break
            if proc.poll() is not None:
                break
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
        assert url, "the console never said where it listens"
        assert httpx.get(f"{url}healthz", timeout=30).json() == {"status": "ok"}
        assert httpx.get(f"{url}admin/finetune/datasets", timeout=30).json() == {"datasets": []}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0


def test_tuneforge_web_serves_the_console_of_a_running_server(server):
    env = {**os.environ, "PYTHONPATH": source_path()}
    proc = subprocess.Popen([sys.executable, "-m", "tuneforge.cli.main", "web", "--target", server.target, "--port", str(free_port())],
                            cwd=REPO, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        line = proc.stderr.readline()
        found = re.search(r"web console on (http://\S+)", line)
        assert found, line
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        assert httpx.get(f"{found.group(1)}admin/finetune/datasets", timeout=30).json() == {"datasets": []}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def test_tuneforge_web_refuses_a_public_bind_without_a_token():
    env = {**os.environ, "PYTHONPATH": source_path(), "TUNEFORGE_TOKEN": ""}
    out = subprocess.run([sys.executable, "-m", "tuneforge.cli.main", "web", "--host", "0.0.0.0", "--port", str(free_port())],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "refusing to serve the web console on 0.0.0.0" in out.stderr


def test_tuneforge_web_refuses_a_short_token_beyond_loopback():
    """The gRPC server's rule (16 characters beyond loopback), applied to the console."""
    env = {**os.environ, "PYTHONPATH": source_path(), "TUNEFORGE_TOKEN": "x"}
    out = subprocess.run([sys.executable, "-m", "tuneforge.cli.main", "web", "--host", "0.0.0.0", "--port", str(free_port())],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "auth_token of 1 characters" in out.stderr and "at least 16" in out.stderr


def test_serve_all_refuses_a_console_beyond_loopback_with_tls_but_no_token(tmp_path):
    """The console calls the services with the server's own credentials: TLS alone would open it to anyone."""
    env = {**os.environ, "PYTHONPATH": source_path(), "TUNEFORGE_AUTH_TOKEN": "",
           "TUNEFORGE_TLS_CERT": str(tmp_path / "server.pem"), "TUNEFORGE_TLS_KEY": str(tmp_path / "server.key")}
    out = subprocess.run([sys.executable, "-m", "tuneforge.cli.main", "serve", "all", "--host", "0.0.0.0", "--port", "0",
                          "--web-port", str(free_port()), "--data-root", str(tmp_path / "var")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "refusing to serve the web console on 0.0.0.0" in out.stderr and "needs a token" in out.stderr
