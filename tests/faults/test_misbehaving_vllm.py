"""A misbehaving vLLM cannot hold the registry (issue 22, item 5).

A stand-in at vLLM's address first relays to the fake vLLM (so an adapter can be activated
for real), then turns bad: it accepts and never answers, drips a byte every half second (a
per-read socket timeout never fires), streams a 600 MB answer, or answers with bytes that
are not HTTP. Every call to vLLM has one overall deadline (``vllm_timeout_seconds``, 2 s
here) and a size cap; an activation vLLM did not confirm is UNAVAILABLE with the reason and
leaves ``adapters/.active`` as it was; Deactivate is never stuck behind it.

The server runs in this process (ServerThread), so its memory is this process's VmRSS.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from tuneforge.client import Client, Unavailable
from tuneforge.registry.v1 import registry_pb2 as pb
from tuneforge.services.registry import marker
from tuneforge.testing.fake_vllm import FakeVllm

sys.path.insert(0, str(Path(__file__).parent.parent / "registry"))
from registry_helpers import BASE, make_adapter  # noqa: E402

TIMEOUT = 2.0
SLACK = 1.5  # scheduling on a busy two-core machine
FLOOD_BYTES = 600 * 1024 * 1024
DRIP_EVERY = 0.5


class BadVllm:
    """A TCP server on 127.0.0.1:0 whose ``behaviour`` picks how it answers each connection."""

    def __init__(self, upstream: FakeVllm) -> None:
        self.upstream = upstream
        self.behaviour = "relay"
        self.flood_sent = 0
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                request = _read_request(conn)
                getattr(self, f"_{self.behaviour}")(conn, request)
            except OSError:
                pass  # the registry hung up: what it should do

    def _relay(self, conn: socket.socket, request: bytes) -> None:
        with socket.create_connection(("127.0.0.1", self.upstream.port)) as up:
            up.sendall(request)
            while chunk := up.recv(65536):
                conn.sendall(chunk)

    def _silent(self, conn: socket.socket, request: bytes) -> None:
        self._stop.wait()

    def _drip(self, conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
        while not self._stop.wait(DRIP_EVERY):
            conn.sendall(b"z")

    def _flood(self, conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"data\": [\"")
        chunk = b"x" * (1024 * 1024)
        while self.flood_sent < FLOOD_BYTES and not self._stop.is_set():
            conn.sendall(chunk)
            self.flood_sent += len(chunk)

    def _garbage(self, conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\x00\xff\x16\x03\x01garbage")


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        if not (chunk := conn.recv(65536)):
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length and (chunk := conn.recv(65536)):
        body += chunk
    return head + b"\r\n\r\n" + body


def _rss_kib(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


@pytest.fixture
def bad(server_factory, tmp_path):
    """(server, client, the bad vLLM) with adapter ``a`` active (confirmed through the relay)
    and ``b`` registered."""
    fake = FakeVllm(BASE, root=f"/models/{BASE}").start()
    stand_in = BadVllm(fake)
    srv = server_factory(vllm_mode="hot", vllm_url=stand_in.url, vllm_timeout_seconds=TIMEOUT)
    try:
        with Client(srv.target, timeout=60) as c:
            for name in ("a", "b"):
                c.registry.register_adapter(name=name, path=str(make_adapter(tmp_path / "incoming" / name)))
            assert c.registry.activate_adapter(name="a").vllm_state == pb.Activation.VLLM_STATE_APPLIED
            yield srv, c, stand_in
    finally:
        stand_in.close()
        fake.stop()


def _activate_b(c: Client) -> tuple[Unavailable, float]:
    start = time.monotonic()
    with pytest.raises(Unavailable) as err:
        c.registry.activate_adapter(name="b")
    return err.value, time.monotonic() - start


def _marker(srv) -> str | None:
    return marker.read_active(srv.config.root / "adapters")


def test_a_vllm_that_never_answers_fails_the_activation_in_time_and_keeps_the_marker(bad):
    srv, c, stand_in = bad
    stand_in.behaviour = "silent"
    err, wall = _activate_b(c)
    print(f"\nsilent vLLM: activation answered UNAVAILABLE {err.reason} after {wall:.2f}s (timeout {TIMEOUT:g}s)")
    assert err.reason == "VLLM_TIMEOUT" and f"within {TIMEOUT:g}s" in str(err)
    assert wall < TIMEOUT + SLACK
    assert _marker(srv) == "a"
    status = c.registry.get_active_adapter()
    assert status.adapter_name == "a" and status.vllm_state == pb.Activation.VLLM_STATE_PENDING


def test_a_dripping_vllm_neither_hangs_the_activation_nor_blocks_deactivate(bad):
    srv, c, stand_in = bad
    stand_in.behaviour = "drip"
    outcome: dict = {}
    activation = threading.Thread(target=lambda: outcome.update(zip(("err", "wall"), _activate_b(c))))
    activation.start()
    time.sleep(0.2)  # the activation holds the lock and waits on the drip
    start = time.monotonic()
    status = c.registry.deactivate_adapter()
    deactivate_wall = time.monotonic() - start
    activation.join(10)
    assert not activation.is_alive()
    print(f"\ndripping vLLM: activation UNAVAILABLE after {outcome['wall']:.2f}s; Deactivate, queued "
          f"behind it, answered after {deactivate_wall:.2f}s (timeout {TIMEOUT:g}s)")
    assert outcome["err"].reason == "VLLM_TIMEOUT" and outcome["wall"] < TIMEOUT + SLACK
    assert deactivate_wall < 2 * TIMEOUT + SLACK
    assert status.adapter_name == "" and status.vllm_state == pb.Activation.VLLM_STATE_PENDING
    assert _marker(srv) is None  # taking the adapter off needs no confirmation


def test_a_600_mb_answer_is_cut_at_the_cap_and_the_server_stays_small(bad):
    srv, c, stand_in = bad
    stand_in.behaviour = "flood"
    Path("/proc/self/clear_refs").write_text("5")  # restart VmHWM (the peak) from now
    before = _rss_kib()
    err, wall = _activate_b(c)
    peak_mib = (_rss_kib("VmHWM") - before) / 1024
    print(f"\n600 MB vLLM answer: UNAVAILABLE {err.reason} after {wall:.2f}s; server peak RSS grew "
          f"{peak_mib:.1f} MiB; the stand-in got {stand_in.flood_sent / 2**20:.0f} MiB out before the hang-up")
    assert err.reason == "VLLM_RESPONSE_TOO_LARGE"
    assert peak_mib < 64 and stand_in.flood_sent < 100 * 1024 * 1024
    assert _marker(srv) == "a"


def test_non_http_bytes_are_unavailable_with_the_reason(bad):
    srv, c, stand_in = bad
    stand_in.behaviour = "garbage"
    err, wall = _activate_b(c)
    print(f"\nnon-HTTP vLLM: UNAVAILABLE {err.reason} after {wall:.2f}s: {err}")
    assert err.reason == "VLLM_PROTOCOL_ERROR" and "not an HTTP answer" in str(err)
    assert _marker(srv) == "a" and c.registry.get_active_adapter().adapter_name == "a"
