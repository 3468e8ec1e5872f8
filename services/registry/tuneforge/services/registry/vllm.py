"""Telling vLLM which adapter to serve: ``hot`` (runtime LoRA API), ``restart`` (a command)
or ``none`` (the marker only).

``hot`` talks to vLLM's documented endpoints (vLLM must run with
``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``, otherwise the routes answer 404 ``Not Found``):

- ``POST /v1/load_lora_adapter {"lora_name", "lora_path"}`` → 200 plain text; 400 when the
  name is already loaded or the engine rejects the adapter (e.g. ``LoRA rank 32 is greater
  than max_lora_rank 16``; older releases answered 500 for that), 404 ``No adapter found``
  when the path holds no adapter.
- ``POST /v1/unload_lora_adapter {"lora_name"}`` → 200; 404 for an unknown name.
- ``GET /v1/models`` → the base model card (``parent`` null) plus one card per LoRA
  (``id`` = served name, ``root`` = path, ``parent`` = base model name).

Each adapter version is served under its own name (``name@v3``): vLLM may answer from a
stale prefix cache after an in-place reload, and a new name makes the switch explicit. The
new version is loaded and seen in ``/v1/models`` before the old one is unloaded. Only names
of that ``…@v<N>`` shape are ever unloaded, so LoRAs loaded by someone else stay.

HTTP is stdlib ``urllib`` run in a thread: no new dependency.
"""

from __future__ import annotations

import asyncio
import enum
import json
import os
import re
import signal
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from tuneforge.runtime.errors import Code, FieldViolation, TuneforgeError, failed_precondition, invalid_argument
from tuneforge.services.registry.adapters import Adapter

# The decoder projections vLLM wraps with LoRA layers in Llama/Qwen/Mistral-style models.
DEFAULT_LORA_MODULES = frozenset(
    {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
)
VLLM_DEFAULT_MAX_LORA_RANK = 16
VLLM_LARGEST_MAX_LORA_RANK = 512  # the largest value vLLM's --max-lora-rank accepts
MANAGED_NAME_RE = re.compile(r"^(?P<name>.+)@v(?P<version>\d+)$")
MAX_OUTPUT_CHARS = 64 * 1024


class VllmMode(str, enum.Enum):
    HOT = "hot"
    RESTART = "restart"
    NONE = "none"


class VllmUnreachable(Exception):
    """vLLM did not answer (connection refused, timeout, 502/503/504): retry later."""


class VllmRejected(Exception):
    """vLLM answered and refused; retrying the same request will not help."""

    def __init__(self, status: int, message: str, reason: str = "VLLM_REJECTED") -> None:
        super().__init__(f"vLLM answered {status}: {message}")
        self.status = status
        self.message = message
        self.reason = reason

    def to_error(self, adapter: str | None) -> TuneforgeError:
        return failed_precondition(self.reason, f"vLLM refused: {self.message}", adapter=adapter or "")


@dataclass(frozen=True)
class ServedModels:
    base_id: str
    base_root: str
    loras: dict[str, str]  # served name -> path


@dataclass(frozen=True)
class RestartResult:
    ok: bool
    returncode: int | None
    output: str
    timed_out: bool = False


@dataclass(frozen=True)
class ApplyResult:
    loaded: str | None = None
    unloaded: list[str] = field(default_factory=list)


class VllmClient:
    """The three vLLM endpoints the registry uses."""

    def __init__(self, url: str, timeout: float = 10.0, api_key: str | None = None) -> None:
        if not url:
            raise invalid_argument("vllm_url", "is required in hot mode")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.api_key = api_key

    async def models(self) -> ServedModels:
        status, body = await self._call("GET", "/v1/models")
        if status != 200:
            raise _rejection(status, body)
        try:
            data = json.loads(body)["data"]
        except (ValueError, KeyError, TypeError):
            raise VllmRejected(status, "GET /v1/models did not return a model list") from None
        base = next((m for m in data if not m.get("parent")), None)
        if base is None:
            raise VllmRejected(status, "GET /v1/models lists no base model")
        loras = {m["id"]: str(m.get("root") or "") for m in data if m.get("parent")}
        return ServedModels(str(base["id"]), str(base.get("root") or base["id"]), loras)

    async def load(self, name: str, path: str) -> None:
        status, body = await self._call("POST", "/v1/load_lora_adapter", {"lora_name": name, "lora_path": path})
        if status != 200:
            raise _rejection(status, body)

    async def unload(self, name: str) -> bool:
        """Unload; False when vLLM did not know the name (404)."""
        status, body = await self._call("POST", "/v1/unload_lora_adapter", {"lora_name": name})
        if status == 404 and not _route_missing(body):
            return False
        if status != 200:
            raise _rejection(status, body)
        return True

    async def _call(self, method: str, path: str, payload: dict | None = None) -> tuple[int, bytes]:
        return await asyncio.to_thread(self._call_sync, method, path, payload)

    def _call_sync(self, method: str, path: str, payload: dict | None) -> tuple[int, bytes]:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.api_key:
            req.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()
            if exc.code in (502, 503, 504):
                raise VllmUnreachable(f"{method} {path}: HTTP {exc.code}") from None
            return exc.code, body
        except (urllib.error.URLError, OSError) as exc:  # refused, reset, timeout, DNS
            raise VllmUnreachable(f"{method} {self.url}{path}: {exc}") from None


def _error_message(body: bytes) -> tuple[str, str]:
    """(message, type) from either vLLM error shape, or the raw text."""
    try:
        doc = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:2000], ""
    if isinstance(doc, dict):
        err = doc.get("error") if isinstance(doc.get("error"), dict) else doc
        msg = err.get("message") or err.get("detail") or json.dumps(doc)
        return str(msg), str(err.get("type") or "")
    return str(doc), ""


def _route_missing(body: bytes) -> bool:
    msg, _ = _error_message(body)
    return msg == "Not Found"


def _rejection(status: int, body: bytes) -> VllmRejected:
    msg, _ = _error_message(body)
    if status == 404 and _route_missing(body):
        return VllmRejected(
            status,
            "the runtime LoRA API is not enabled (start vLLM with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True)",
            "VLLM_RUNTIME_LORA_DISABLED",
        )
    if status == 401:
        return VllmRejected(status, msg, "VLLM_UNAUTHORIZED")
    if "max_lora_rank" in msg:
        return VllmRejected(status, msg, "LORA_RANK_TOO_HIGH")
    if "No adapter found" in msg:
        msg += " (vLLM must see the registry's data root at the same path)"
        return VllmRejected(status, msg, "ADAPTER_PATH_NOT_FOUND")
    return VllmRejected(status, msg)


def incompatible(adapter: str, violations: list[FieldViolation]) -> TuneforgeError:
    return TuneforgeError(
        Code.FAILED_PRECONDITION,
        "ADAPTER_INCOMPATIBLE",
        f"vLLM cannot serve adapter {adapter!r}",
        violations,
        {"adapter": adapter},
    )


def same_model(a: str, b: str) -> bool:
    """Whether two model references name the same model: equal, or the same trailing
    ``org/name`` (a local path ``/models/Qwen/Qwen2.5-7B`` vs ``Qwen/Qwen2.5-7B``), or the same
    last component when one side is a bare name."""
    if a == b:
        return True
    pa, pb = PurePosixPath(a.rstrip("/")).parts, PurePosixPath(b.rstrip("/")).parts
    n = min(len(pa), len(pb), 2)
    return n > 0 and pa[-n:] == pb[-n:]


class VllmController:
    """Configured from ``TUNEFORGE_VLLM_MODE`` / ``TUNEFORGE_VLLM_URL`` by the caller.

    ``restart_command``: an argv list (run directly) or a string (run by ``/bin/sh -c``),
    e.g. ``["systemctl", "restart", "tuneforge-vllm"]`` or ``"kubectl rollout restart
    deploy/vllm"``. It runs with ``TUNEFORGE_ACTIVE_ADAPTER`` / ``TUNEFORGE_ACTIVE_PATH`` /
    ``TUNEFORGE_ACTIVE_SERVED_NAME`` in its environment (empty when none is active), is
    killed (its whole process group) after ``restart_timeout`` seconds, and its combined
    output (last 64 KiB) is kept in the activation history.
    """

    def __init__(
        self,
        mode: VllmMode | str = VllmMode.NONE,
        url: str = "",
        *,
        max_lora_rank: int = VLLM_DEFAULT_MAX_LORA_RANK,
        supported_modules: frozenset[str] | set[str] | None = DEFAULT_LORA_MODULES,
        check_base_model: bool = True,
        restart_command: Sequence[str] | str | None = None,
        restart_timeout: float = 300.0,
        request_timeout: float = 10.0,
        api_key: str | None = None,
    ) -> None:
        try:
            self.mode = VllmMode(mode)
        except ValueError:
            raise invalid_argument("vllm_mode", f"must be hot, restart or none, got {mode!r}") from None
        self.max_lora_rank = max_lora_rank
        self.supported_modules = frozenset(supported_modules) if supported_modules else None
        self.check_base_model = check_base_model
        self.restart_timeout = restart_timeout
        self.restart_command = restart_command
        self.client = VllmClient(url, request_timeout, api_key) if self.mode is VllmMode.HOT else None
        if self.mode is VllmMode.RESTART and not restart_command:
            raise invalid_argument("vllm_restart_command", "is required in restart mode")

    # ------------------------------------------------------------- checks
    def static_violations(self, adapter: Adapter) -> list[FieldViolation]:
        """What vLLM would reject whatever it serves: rank and module coverage."""
        found = []
        if self.mode is VllmMode.NONE:
            return found
        # In restart mode the launcher starts vLLM with --max-lora-rank from the adapter.
        limit = VLLM_LARGEST_MAX_LORA_RANK if self.mode is VllmMode.RESTART else self.max_lora_rank
        if adapter.rank > limit:
            found.append(FieldViolation(
                "rank",
                f"adapter rank {adapter.rank} is above vLLM's max LoRA rank {limit}"
                " (start vLLM with a larger --max-lora-rank)",
            ))
        modules = adapter.lora_modules or adapter.target_modules
        if self.supported_modules is not None:
            extra = sorted(set(modules) - self.supported_modules)
            if extra:
                found.append(FieldViolation(
                    "target_modules",
                    f"vLLM does not apply LoRA to {', '.join(extra)}"
                    f" (it covers {', '.join(sorted(self.supported_modules))})",
                ))
        return found

    def served_violations(self, adapter: Adapter, served: ServedModels) -> list[FieldViolation]:
        if not self.check_base_model:
            return []
        if same_model(adapter.base_model, served.base_root) or same_model(adapter.base_model, served.base_id):
            return []
        return [FieldViolation(
            "base_model",
            f"adapter was trained on {adapter.base_model!r} but vLLM serves {served.base_id!r}"
            f" ({served.base_root!r})",
        )]

    async def precheck(self, adapter: Adapter) -> None:
        """Raise FAILED_PRECONDITION ``ADAPTER_INCOMPATIBLE`` if vLLM cannot serve it.
        The base-model check needs vLLM up; when it is down it runs at apply time."""
        found = self.static_violations(adapter)
        if self.mode is VllmMode.HOT and not found:
            try:
                found = self.served_violations(adapter, await self.client.models())
            except VllmUnreachable:
                pass
            except VllmRejected as exc:
                raise exc.to_error(adapter.name) from None
        if found:
            raise incompatible(adapter.name, found)

    # -------------------------------------------------------------- apply
    async def apply_hot(self, adapter: Adapter | None) -> ApplyResult:
        """Make vLLM serve exactly ``adapter`` (or no managed adapter): load its versioned
        name if absent, confirm it through /v1/models, then unload other ``…@vN`` names.
        Idempotent, so it is also the reconcile step. Raises VllmUnreachable/VllmRejected
        or FAILED_PRECONDITION (base model mismatch)."""
        assert self.client is not None
        served = await self.client.models()
        loaded = None
        if adapter is not None:
            found = self.served_violations(adapter, served)
            if found:
                raise incompatible(adapter.name, found)
            target = adapter.served_name
            if target not in served.loras:
                try:
                    await self.client.load(target, str(adapter.path))
                except VllmRejected as exc:
                    if not (exc.status == 400 and "already been loaded" in exc.message):
                        raise
                served = await self.client.models()
                if target not in served.loras:
                    raise VllmRejected(200, f"{target!r} is not listed by /v1/models after loading")
                loaded = target
        unloaded = []
        for name in served.loras:
            if MANAGED_NAME_RE.match(name) and (adapter is None or name != adapter.served_name):
                if await self.client.unload(name):
                    unloaded.append(name)
        return ApplyResult(loaded, unloaded)

    async def run_restart(self, adapter: Adapter | None) -> RestartResult:
        env = dict(os.environ)
        env["TUNEFORGE_ACTIVE_ADAPTER"] = adapter.name if adapter else ""
        env["TUNEFORGE_ACTIVE_PATH"] = str(adapter.path) if adapter else ""
        env["TUNEFORGE_ACTIVE_SERVED_NAME"] = adapter.served_name if adapter else ""
        cmd = self.restart_command
        try:
            if isinstance(cmd, str):
                proc = await asyncio.create_subprocess_exec(
                    "/bin/sh", "-c", cmd, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT, env=env, start_new_session=True,
                )
            else:
                proc = await asyncio.create_subprocess_exec(
                    *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                    env=env, start_new_session=True,
                )
        except OSError as exc:
            return RestartResult(False, None, f"could not start {cmd!r}: {exc}")
        chunks: list[bytes] = []

        async def drain() -> None:
            size = 0
            while chunk := await proc.stdout.read(65536):
                chunks.append(chunk)
                size += len(chunk)
                while size > MAX_OUTPUT_CHARS and len(chunks) > 1:
                    size -= len(chunks.pop(0))

        reader = asyncio.create_task(drain())
        try:
            await asyncio.wait_for(proc.wait(), self.restart_timeout)
        except asyncio.TimeoutError:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await proc.wait()
            reader.cancel()
            out = b"".join(chunks).decode("utf-8", "replace")[-MAX_OUTPUT_CHARS:]
            return RestartResult(False, None, out + f"\n[timed out after {self.restart_timeout:g}s]", True)
        try:
            await asyncio.wait_for(reader, 5.0)
        except asyncio.TimeoutError:  # a grandchild holds the pipe open
            reader.cancel()
        out = b"".join(chunks).decode("utf-8", "replace")[-MAX_OUTPUT_CHARS:]
        return RestartResult(proc.returncode == 0, proc.returncode, out)
