"""A small real HTTP server speaking vLLM's LoRA management wire contract, for tests.

It serves, on 127.0.0.1, what a vLLM 0.32 OpenAI server started with ``--enable-lora``
and ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`` serves for adapter management, with its status
codes and nested error bodies (``{"error": {"message", "type", "param", "code"}}``), as
measured against the real server (tests/registry/test_registry_real_vllm.py compares them):

- ``GET /v1/models``: the base model card (``root`` = model path, ``parent`` null) and one
  card per loaded LoRA (``root`` = its path, ``parent`` = the base model name).
- ``POST /v1/load_lora_adapter {"lora_name", "lora_path"}``: 200 ``Success: LoRA adapter
  'x' added successfully.``; 400 ``Bad Request`` for a missing field (pydantic's message,
  ``param`` = ``body.lora_name``); 400 ``InvalidUserInput`` for a name already loaded; 404
  ``NotFoundError`` "Loading lora x failed: No adapter found for <path>" (vLLM writes
  ``<path>`` literally) when the path holds no adapter; 500 ``InternalServerError`` "Call to
  add_lora method failed: Worker failed with error '…'" when the engine refuses: rank above
  ``max_lora_rank``, DoRA, or modules outside ``supported_modules``.
- ``POST /v1/unload_lora_adapter {"lora_name"}``: 200, or 404 for an unknown name.
- with ``sleep_mode=True``, vLLM's sleep-mode routes (fake_vllm_sleep.py);
- with ``runtime_updates=False`` both POST routes answer 404 ``{"detail": "Not Found"}``
  like a vLLM started without the env var; so does any unknown route.

Loaded adapters live in memory, so they vanish on :meth:`stop`/:meth:`start` — as in a
real vLLM restart. ``requests`` records every call for assertions.

    python -m tuneforge.testing.fake_vllm --port 8000 --model Qwen/Qwen2.5-0.5B-Instruct
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tuneforge.services.registry.peft_files import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    SafetensorsError,
    config_rank,
    lora_modules,
    read_safetensors_header,
)
from tuneforge.testing.fake_vllm_sleep import ROUTES as SLEEP_ROUTES
from tuneforge.testing.fake_vllm_sleep import SleepMode

DEFAULT_MODULES = frozenset({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict | None
    status: int


class FakeVllm:
    def __init__(
        self,
        model: str = "tiny-base",
        *,
        root: str | None = None,
        port: int = 0,
        max_lora_rank: int = 16,
        supported_modules: frozenset[str] = DEFAULT_MODULES,
        runtime_updates: bool = True,
        api_key: str | None = None,
        sleep_mode: bool = False,
    ) -> None:
        self.model = model
        self.root = root or model
        self.port = port
        self.max_lora_rank = max_lora_rank
        self.supported_modules = supported_modules
        self.runtime_updates = runtime_updates
        self.api_key = api_key
        self.sleep = SleepMode(enabled=sleep_mode)  # /sleep, /wake_up, /is_sleeping
        self.loras: dict[str, str] = {}
        self.requests: list[Request] = []
        # (path, status, message) answered instead of the real handling, first in first out:
        # faults such as "RPC call to add_lora timed out" that a test cannot provoke otherwise
        self.faults: list[tuple[str, int, str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "FakeVllm":
        """Listen (on the same port as before after a :meth:`stop`)."""
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and forget loaded adapters, like a vLLM process exiting."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            self.loras.clear()

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> "FakeVllm":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def calls(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    # ------------------------------------------------------------ handlers
    def models(self) -> tuple[int, dict]:
        now = int(time.time())
        perm = [{"id": "modelperm-fake", "object": "model_permission", "created": now, "allow_view": True}]
        cards = [{"id": self.model, "object": "model", "created": now, "owned_by": "vllm",
                  "root": self.root, "parent": None, "max_model_len": 4096, "permission": perm}]
        with self._lock:
            for name, path in self.loras.items():
                cards.append({"id": name, "object": "model", "created": now, "owned_by": "vllm",
                              "root": path, "parent": self.model, "max_model_len": None, "permission": perm})
        return 200, {"object": "list", "data": cards}

    def load(self, body: dict) -> tuple[int, dict | str]:
        name, path = body.get("lora_name"), body.get("lora_path")
        for key in ("lora_name", "lora_path"):
            if key not in body:
                return _missing_field(key, body)
        if not name or not path:
            return _error(400, "Both 'lora_name' and 'lora_path' must be provided.", "InvalidUserInput")
        with self._lock:
            if name in self.loras:
                return _error(400, f"The lora adapter '{name}' has already been loaded. If you want to load the"
                              " adapter in place, set 'load_inplace' to True.", "InvalidUserInput")
        cfg = os.path.join(path, CONFIG_FILE)
        if not os.path.isfile(cfg):
            return _error(404, f"Loading lora {name} failed: No adapter found for <path>", "NotFoundError")
        try:
            with open(cfg, encoding="utf-8") as f:
                config = json.load(f)
            rank = config_rank(config)
            header = read_safetensors_header(os.path.join(path, WEIGHTS_FILE))
        except (OSError, ValueError, KeyError, TypeError, SafetensorsError) as exc:
            return _engine_refusal(str(exc))
        if config.get("use_dora"):
            return _engine_refusal("vLLM does not yet support DoRA.")
        if rank > self.max_lora_rank:
            return _engine_refusal(f"LoRA rank {rank} is greater than max_lora_rank {self.max_lora_rank}.")
        unexpected = sorted(set(lora_modules(header)) - self.supported_modules)
        if unexpected:
            return _engine_refusal(f"While loading <path>, expected target modules in {set(self.supported_modules)}"
                                   f" but received {unexpected}. Please verify that the loaded LoRA module is correct")
        with self._lock:
            self.loras[name] = path
        return 200, f"Success: LoRA adapter '{name}' added successfully."

    def unload(self, body: dict) -> tuple[int, dict | str]:
        if "lora_name" not in body:
            return _missing_field("lora_name", body)
        name = body.get("lora_name")
        if not name:
            return _error(400, "'lora_name' needs to be provided to unload a LoRA adapter.", "InvalidUserInput")
        with self._lock:
            if name not in self.loras:
                return _error(404, f"The lora adapter '{name}' cannot be found.", "NotFoundError")
            del self.loras[name]
        return 200, f"Success: LoRA adapter '{name}' removed successfully."


def _error(code: int, message: str, err_type: str, param: str | None = None) -> tuple[int, dict]:
    return code, {"error": {"message": message, "type": err_type, "param": param, "code": code}}


def _engine_refusal(why: str) -> tuple[int, dict]:
    """How vLLM reports an exception raised in the engine's add_lora."""
    return _error(500, f"Call to add_lora method failed: Worker failed with error '{why}', please check the"
                  " stack trace above for the root cause", "InternalServerError")


def _missing_field(key: str, body: dict) -> tuple[int, dict]:
    return _error(400, "1 validation error:\n  {'type': 'missing', 'loc': 'body." + key + "', 'msg': 'Field required',"
                  f" 'input': '<dict of {len(body)} items>'}}", "Bad Request", f"body.{key}")


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeVllm
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        fake = self.server_fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = None
        path = self.path.split("?")[0]
        if fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            status, payload = 401, {"error": "Unauthorized"}
        elif fake.faults and fake.faults[0][0] == path:
            _, code, message = fake.faults.pop(0)
            status, payload = _error(code, message, "InternalServerError" if code == 500 else "BadRequestError")
        elif method == "GET" and path == "/v1/models":
            status, payload = fake.models()
        elif method == "GET" and path == "/health":
            status, payload = 200, ""
        elif path in SLEEP_ROUTES:
            status, payload = fake.sleep.answer(method, path, self.path.partition("?")[2])
        elif method == "POST" and path in ("/v1/load_lora_adapter", "/v1/unload_lora_adapter"):
            if not fake.runtime_updates:
                status, payload = 404, {"detail": "Not Found"}
            else:
                try:
                    body = json.loads(raw or b"{}")
                    if not isinstance(body, dict):
                        raise ValueError("not an object")
                except ValueError:
                    status, payload = _error(400, "1 validation error:\n  {'type': 'json_invalid', 'loc': 'body.0',"
                                             " 'msg': 'JSON decode error'}", "Bad Request", "body.0")
                else:
                    handler = fake.load if path.endswith("load_lora_adapter") and "unload" not in path else fake.unload
                    status, payload = handler(body)
        else:
            status, payload = 404, {"detail": "Not Found"}
        fake.requests.append(Request(method, path, body, status))
        if isinstance(payload, str):
            data, ctype = payload.encode(), "text/plain; charset=utf-8"
        else:
            data, ctype = json.dumps(payload).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def reload_from_markers(url: str, data_root: str) -> list[str]:
    """What a restart through deploy/vllm/launch.py does to a running fake: drop every
    LoRA, then load the ones ``adapters/.active`` and ``adapters/.serving`` name. A restart
    command for tests (``python -m tuneforge.testing.fake_vllm --reload URL --data-root
    DIR``); like ``systemctl restart`` it succeeds even when vLLM then refuses an adapter."""
    import urllib.error
    import urllib.request

    from tuneforge.services.registry import marker

    def call(path: str, payload: dict | None = None) -> tuple[int, str]:
        req = urllib.request.Request(url + path, method="POST" if payload is not None else "GET",
                                     data=None if payload is None else json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    adapters = os.path.join(data_root, "adapters")
    for card in json.loads(call("/v1/models")[1])["data"]:
        if card.get("parent"):
            call("/v1/unload_lora_adapter", {"lora_name": card["id"]})
    wanted = marker.read_serving(Path(adapters))
    name, served = marker.read_active(Path(adapters)), marker.read_active_served_name(Path(adapters))
    if name:
        wanted.insert(0, (name, served or name))
    out = []
    for n, served_name in wanted:
        status, body = call("/v1/load_lora_adapter", {"lora_name": served_name,
                                                      "lora_path": os.path.join(adapters, n, "final")})
        out.append(f"{served_name}: {status} {body}")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reload", metavar="URL", help="restart a running fake from the data root's markers")
    ap.add_argument("--data-root", default=".")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--model", default="tiny-base")
    ap.add_argument("--root", default=None, help="model path reported as the base card's root")
    ap.add_argument("--max-lora-rank", type=int, default=16)
    args = ap.parse_args(argv)
    if args.reload:
        print("\n".join(reload_from_markers(args.reload, args.data_root)), flush=True)
        return
    fake = FakeVllm(args.model, root=args.root, port=args.port, max_lora_rank=args.max_lora_rank).start()
    print(f"fake vLLM serving {args.model} on {fake.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
