"""A small real HTTP server speaking vLLM's LoRA management wire contract, for tests.

It serves, on 127.0.0.1, what a vLLM OpenAI server started with ``--enable-lora`` and
``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`` serves for adapter management, with its status
codes and error bodies (``{"object": "error", "message", "type", "param", "code"}``):

- ``GET /v1/models``: the base model card (``root`` = model path, ``parent`` null) and one
  card per loaded LoRA (``root`` = its path, ``parent`` = the base model name).
- ``POST /v1/load_lora_adapter {"lora_name", "lora_path"}``: 200 ``Success: LoRA adapter
  'x' added successfully.``; 400 ``InvalidUserInput`` for a missing field or a name already
  loaded; 404 ``NotFoundError`` "No adapter found" when the path holds no adapter; 400 (500
  with ``rank_error_status=500``, as older vLLM releases did) ``LoRA rank R is greater than
  max_lora_rank M.``; 400 for target modules outside ``supported_modules``.
- ``POST /v1/unload_lora_adapter {"lora_name"}``: 200, or 404 for an unknown name.
- with ``sleep_mode=True``, vLLM's sleep-mode routes (fake_vllm_sleep.py);
- with ``runtime_updates=False`` both POST routes answer 404 ``{"detail": "Not Found"}``
  like a vLLM started without the env var.

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
        rank_error_status: int = 400,
        supported_modules: frozenset[str] = DEFAULT_MODULES,
        runtime_updates: bool = True,
        api_key: str | None = None,
        sleep_mode: bool = False,
    ) -> None:
        self.model = model
        self.root = root or model
        self.port = port
        self.max_lora_rank = max_lora_rank
        self.rank_error_status = rank_error_status
        self.supported_modules = supported_modules
        self.runtime_updates = runtime_updates
        self.api_key = api_key
        self.sleep = SleepMode(enabled=sleep_mode)  # /sleep, /wake_up, /is_sleeping
        self.loras: dict[str, str] = {}
        self.requests: list[Request] = []
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
        if not name or not path:
            return _error(400, "Both 'lora_name' and 'lora_path' must be provided.", "InvalidUserInput")
        with self._lock:
            if name in self.loras:
                return _error(400, f"The lora adapter '{name}' has already been loaded.", "InvalidUserInput")
        cfg = os.path.join(path, CONFIG_FILE)
        if not os.path.isfile(cfg):
            return _error(404, f"Loading lora {name} failed: No adapter found for {path}", "NotFoundError")
        try:
            with open(cfg, encoding="utf-8") as f:
                config = json.load(f)
            rank = config_rank(config)
            header = read_safetensors_header(os.path.join(path, WEIGHTS_FILE))
        except (OSError, ValueError, KeyError, TypeError, SafetensorsError) as exc:
            return _error(400, f"Loading lora {name} failed: {exc}", "BadRequestError")
        if rank > self.max_lora_rank:
            return _error(self.rank_error_status,
                          f"LoRA rank {rank} is greater than max_lora_rank {self.max_lora_rank}.",
                          "BadRequestError" if self.rank_error_status == 400 else "InternalServerError")
        unexpected = sorted(set(lora_modules(header)) - self.supported_modules)
        if unexpected:
            return _error(400, f"While loading {path}, expected target modules in "
                          f"{sorted(self.supported_modules)} but received {unexpected}. Please verify "
                          "that the loaded LoRA module is correct", "BadRequestError")
        with self._lock:
            self.loras[name] = path
        return 200, f"Success: LoRA adapter '{name}' added successfully."

    def unload(self, body: dict) -> tuple[int, dict | str]:
        name = body.get("lora_name")
        if not name and not body.get("lora_int_id"):
            return _error(400, "either 'lora_name' and 'lora_int_id' needs to be provided.", "InvalidUserInput")
        with self._lock:
            if name not in self.loras:
                return _error(404, f"The lora adapter '{name}' cannot be found.", "NotFoundError")
            del self.loras[name]
        return 200, f"Success: LoRA adapter '{name}' removed successfully."


def _error(code: int, message: str, err_type: str) -> tuple[int, dict]:
    return code, {"object": "error", "message": message, "type": err_type, "param": None, "code": code}


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
                    status, payload = _error(400, "request body is not a JSON object", "BadRequestError")
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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--model", default="tiny-base")
    ap.add_argument("--root", default=None, help="model path reported as the base card's root")
    ap.add_argument("--max-lora-rank", type=int, default=16)
    args = ap.parse_args(argv)
    fake = FakeVllm(args.model, root=args.root, port=args.port, max_lora_rank=args.max_lora_rank).start()
    print(f"fake vLLM serving {args.model} on {fake.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
