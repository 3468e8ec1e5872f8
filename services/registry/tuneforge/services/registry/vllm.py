"""Telling vLLM which adapter to serve: ``hot`` (runtime LoRA API), ``restart`` (a command)
or ``none`` (the marker only).

``hot`` talks to vLLM's documented endpoints (vLLM must run with
``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``, otherwise the routes answer 404 ``Not Found``):

- ``POST /v1/load_lora_adapter {"lora_name", "lora_path"}`` → 200 plain text; 400 when the
  name is already loaded (``InvalidUserInput``) or a field is missing (``Bad Request``); 404
  ``No adapter found for <path>`` when the path holds no adapter; 500
  ``InternalServerError`` "Call to add_lora method failed: Worker failed with error '…'"
  when the engine refuses the adapter (rank above max_lora_rank, DoRA, unexpected target
  modules). A 500 that is transient ("RPC call to add_lora timed out", engine busy) is
  retried; a refusal is not.
- ``POST /v1/unload_lora_adapter {"lora_name"}`` → 200; 404 for an unknown name.
- ``GET /v1/models`` → the base model card (``parent`` null) plus one card per LoRA
  (``id`` = served name, ``root`` = path, ``parent`` = base model name).

Errors come nested, ``{"error": {"message", "type", "param", "code"}}`` (vLLM 0.32/0.33);
a route that does not exist answers FastAPI's ``{"detail": "Not Found"}``. All of this was
checked against the real server (tests/registry/test_registry_real_vllm.py).

Every call runs under one overall deadline and reads at most ``MAX_RESPONSE_BYTES`` (see
runtime/vllm_http.py): a vLLM that hangs, drips, floods or answers garbage is reported as
unreachable with its reason, never waited on without end. ``VllmController.within_deadline``
bounds a whole hot-mode conversation (check + load + confirm + unload) by the same timeout.

Each adapter version is served under its own name (``name@v3``): vLLM may answer from a
stale prefix cache after an in-place reload, and a new name makes the switch explicit. The
new version is loaded and seen in ``/v1/models`` before the old one is unloaded. Only names
of that ``…@v<N>`` shape are ever unloaded, so LoRAs loaded by someone else stay.

HTTP is asyncio streams (runtime/vllm_http.py): no new dependency.
"""

from __future__ import annotations

import asyncio
import enum
import json
import os
import re
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tuneforge.runtime.errors import (
    Code, FieldViolation, TuneforgeError, failed_precondition, invalid_argument, unavailable,
)
from tuneforge.services.registry.adapters import Adapter
from tuneforge.services.registry.restart_command import RestartResult, run_command
from tuneforge.runtime.vllm_http import MAX_RESPONSE_BYTES, HttpFailure, exchange, within
from tuneforge.services.registry.vllm_rules import (
    DEFAULT_LORA_MODULES,
    VLLM_MAX_LORA_RANKS,
    check_max_lora_rank,
    config_violations,
    module_violations,
    supported_modules,
)

VLLM_DEFAULT_MAX_LORA_RANK = 16
VLLM_LARGEST_MAX_LORA_RANK = VLLM_MAX_LORA_RANKS[-1]
DEFAULT_MAX_LORAS = 4
MANAGED_NAME_RE = re.compile(r"^(?P<name>.+)@v(?P<version>\d+)$")
STAGING_NAME_RE = re.compile(r"^.+@v\d+~staging$")  # staging.py: a check left behind by a crash
ENGINE_REFUSAL_RE = re.compile(r"Call to add_lora method failed: (?:Worker failed with error '(?P<inner>.*)', please check"
                               r" the stack trace above for the root cause|(?P<plain>.*))", re.S)
TRANSIENT_500_RE = re.compile(r"timed out|timeout|temporarily|busy|try again", re.I)
LOAD_RETRIES = 3
DEFAULT_TIMEOUT_SECONDS = 10.0


class VllmMode(str, enum.Enum):
    HOT = "hot"
    RESTART = "restart"
    NONE = "none"


class VllmUnreachable(Exception):
    """vLLM did not answer usably (refused, timed out, 502/503/504, not HTTP, too large): retry
    later. ``reason`` is the stable reason an UNAVAILABLE error carries."""

    def __init__(self, message: str, reason: str = "VLLM_UNREACHABLE") -> None:
        super().__init__(message)
        self.reason = reason

    def to_error(self, what: str, adapter: str | None = None) -> TuneforgeError:
        return unavailable(self.reason, f"{what}: {self}", adapter=adapter or "")


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
class ApplyResult:
    loaded: list[str] = field(default_factory=list)
    unloaded: list[str] = field(default_factory=list)


class VllmClient:
    """The three vLLM endpoints the registry uses."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS, api_key: str | None = None,
                 max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        if not url:
            raise invalid_argument("vllm_url", "is required in hot mode")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.api_key = api_key
        self.max_response_bytes = max_response_bytes
        self.retry_delay = 1.0  # first backoff after a transient 500 (doubles)

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
        """Load; a transient 500 is retried (LOAD_RETRIES times, backing off), then reported
        as VllmUnreachable so the activation stays PENDING instead of failing."""
        for attempt in range(LOAD_RETRIES):
            status, body = await self._call("POST", "/v1/load_lora_adapter", {"lora_name": name, "lora_path": path})
            if status == 200:
                return
            if not is_transient(status, body):
                raise _rejection(status, body)
            if attempt + 1 < LOAD_RETRIES:
                await asyncio.sleep(self.retry_delay * 2 ** attempt)
        raise VllmUnreachable(f"vLLM kept failing to load {name!r}: {_error_message(body)[0]}")

    async def unload(self, name: str) -> bool:
        """Unload; False when vLLM did not know the name (404)."""
        status, body = await self._call("POST", "/v1/unload_lora_adapter", {"lora_name": name})
        if status == 404 and not _route_missing(body):
            return False
        if status != 200:
            raise _rejection(status, body)
        return True

    async def post_json(self, path: str, payload: dict) -> dict:
        """One JSON request (a generation, a tokenization: conformance.py); the parsed answer,
        or VllmRejected with vLLM's message."""
        status, body = await self._call("POST", path, payload)
        if status != 200:
            raise _rejection(status, body)
        try:
            doc = json.loads(body)
        except ValueError:
            raise VllmRejected(status, f"POST {path} did not answer JSON") from None
        if not isinstance(doc, dict):
            raise VllmRejected(status, f"POST {path} did not answer a JSON object")
        return doc

    async def _call(self, method: str, path: str, payload: dict | None = None) -> tuple[int, bytes]:
        """One exchange within ``timeout``; 502/503/504 and every transport or protocol
        failure are VllmUnreachable (with its reason), other statuses are returned."""
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body = None if payload is None else json.dumps(payload).encode()
        try:
            status, data = await exchange(self.url, method, path, body, headers, timeout=self.timeout,
                                          max_bytes=self.max_response_bytes)
        except HttpFailure as exc:
            raise VllmUnreachable(str(exc), exc.reason) from None
        if status in (502, 503, 504):
            raise VllmUnreachable(f"{method} {path}: HTTP {status}")
        return status, data


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


def _engine_message(msg: str) -> str:
    """The engine's own words inside vLLM's 500 wrapper."""
    m = ENGINE_REFUSAL_RE.search(msg)
    return (m.group("inner") or m.group("plain") or msg).strip() if m else msg


def is_transient(status: int, body: bytes) -> bool:
    """A 500 worth retrying: a timeout or a busy engine, not a refusal of the adapter."""
    if status != 500:
        return False
    msg, _ = _error_message(body)
    return "Worker failed with error" not in msg and bool(TRANSIENT_500_RE.search(msg))


def _rejection(status: int, body: bytes) -> VllmRejected:
    msg, _ = _error_message(body)
    if status == 500:
        msg = _engine_message(msg)
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
    if "expected target modules" in msg:
        return VllmRejected(status, msg, "LORA_MODULES_UNSUPPORTED")
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


def _config_of(adapter: Adapter) -> dict:
    """The adapter's ``adapter_config.json`` (validated at registration)."""
    try:
        return json.loads((Path(adapter.path) / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _local_dir(ref: str | None) -> str | None:
    """``ref`` when it is a model directory on this machine (vLLM's --model, or the
    adapter's base_model_name_or_path), so its checkpoint can be read."""
    return ref if ref and Path(ref).is_dir() and (Path(ref) / "config.json").is_file() else None


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
    """Configured from the ``vllm_*`` settings by the caller.

    ``restart_command``: an argv list (run directly) or a string (run by ``/bin/sh -c``),
    e.g. ``["systemctl", "restart", "tuneforge-vllm"]`` or ``"kubectl rollout restart
    deploy/vllm"``. It runs with ``TUNEFORGE_ACTIVE_ADAPTER`` / ``TUNEFORGE_ACTIVE_PATH`` /
    ``TUNEFORGE_ACTIVE_SERVED_NAME`` in its environment (empty when none is active), is
    killed (its whole process group) after ``restart_timeout`` seconds, and its combined
    output (last 64 KiB) is kept in the activation history. After it returns, the registry
    waits (again up to ``restart_timeout``) until vLLM at ``url`` answers and lists every
    served name; only then is a restart applied. ``log_file``: vLLM's output, whose tail a
    failed restart reports.
    """

    def __init__(
        self,
        mode: VllmMode | str = VllmMode.NONE,
        url: str = "",
        *,
        max_lora_rank: int = VLLM_DEFAULT_MAX_LORA_RANK,
        max_loras: int = DEFAULT_MAX_LORAS,
        supported_modules: frozenset[str] | set[str] | None = None,
        check_base_model: bool = True,
        restart_command: Sequence[str] | str | None = None,
        restart_timeout: float = 300.0,
        request_timeout: float = DEFAULT_TIMEOUT_SECONDS,
        api_key: str | None = None,
        log_file: str | None = None,
        poll_interval: float = 0.5,
    ) -> None:
        try:
            self.mode = VllmMode(mode)
        except ValueError:
            raise invalid_argument("vllm_mode", f"must be hot, restart or none, got {mode!r}") from None
        bad = check_max_lora_rank(max_lora_rank)
        if bad:
            raise invalid_argument("vllm_max_lora_rank", bad[0].description)
        if max_loras < 1:
            raise invalid_argument("vllm_max_loras", f"must be at least 1, got {max_loras}")
        self.max_lora_rank = max_lora_rank
        self.max_loras = max_loras
        self.supported_modules = frozenset(supported_modules) if supported_modules else None
        self.check_base_model = check_base_model
        self.restart_timeout = restart_timeout
        self.restart_command = restart_command
        self.log_file = log_file
        self.poll_interval = poll_interval
        self.request_timeout = request_timeout
        if request_timeout <= 0:
            raise invalid_argument("vllm_timeout_seconds", f"must be above 0, got {request_timeout:g}")
        if self.mode is VllmMode.RESTART and not restart_command:
            raise invalid_argument("vllm_restart_command", "is required in restart mode")
        if self.mode is not VllmMode.NONE and not url:
            raise invalid_argument(
                "vllm_url", f"is required in {self.mode.value} mode (the registry checks that vLLM serves the adapter)"
            )
        self.client = VllmClient(url, request_timeout, api_key) if self.mode is not VllmMode.NONE else None

    # ------------------------------------------------------------- checks
    def static_violations(self, adapter: Adapter, served: ServedModels | None = None) -> list[FieldViolation]:
        """What vLLM would refuse whatever it serves: see vllm_rules.py."""
        if self.mode is VllmMode.NONE:
            return []
        # In restart mode the launcher starts vLLM with --max-lora-rank from the adapter.
        limit = VLLM_LARGEST_MAX_LORA_RANK if self.mode is VllmMode.RESTART else self.max_lora_rank
        found = config_violations(adapter.extra.get("config") or _config_of(adapter), limit)
        base_dir = _local_dir(served.base_root if served else None) or _local_dir(adapter.base_model)
        supported = self.supported_modules or supported_modules(base_dir) or DEFAULT_LORA_MODULES
        found += module_violations(adapter.lora_modules or adapter.target_modules, supported,
                                   base_dir or adapter.base_model)
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
        served = None
        if self.client is not None:
            try:
                served = await self.client.models()
            except VllmUnreachable:
                pass
            except VllmRejected as exc:
                raise exc.to_error(adapter.name) from None
        found = self.static_violations(adapter, served)
        if served is not None and not found:
            found = self.served_violations(adapter, served)
        if found:
            raise incompatible(adapter.name, found)

    async def within_deadline(self, work: Awaitable, what: str, timeout: float | None = None):
        """Await ``work`` (a hot-mode conversation of several calls) for at most
        ``timeout`` (default ``request_timeout``) seconds in all; past it, VllmUnreachable
        ``VLLM_TIMEOUT``."""
        limit = self.request_timeout if timeout is None else timeout
        try:
            return await within(work, limit)
        except asyncio.TimeoutError:
            raise VllmUnreachable(f"vLLM did not {what} within {limit:g}s", "VLLM_TIMEOUT") from None

    # -------------------------------------------------------------- apply
    async def apply_hot(self, adapter: Adapter | None, extras: Sequence[Adapter] = ()) -> ApplyResult:
        """Make vLLM serve exactly ``adapter`` and ``extras`` among the managed ``…@vN``
        names: load each absent one, confirm through /v1/models, then unload the other
        managed names. Idempotent, so it is also the reconcile step. Raises
        VllmUnreachable/VllmRejected or FAILED_PRECONDITION (base model mismatch)."""
        assert self.client is not None
        served = await self.client.models()
        wanted = {a.served_name: a for a in (adapter, *extras) if a is not None}
        for a in wanted.values():
            found = self.served_violations(a, served)
            if found:
                raise incompatible(a.name, found)
        loaded = []
        for target, a in wanted.items():
            if target in served.loras:
                continue
            try:
                await self.client.load(target, str(a.path))
            except VllmRejected as exc:
                if not (exc.status == 400 and "already been loaded" in exc.message):
                    raise
            loaded.append(target)
        if loaded:
            served = await self.client.models()
            missing = [t for t in loaded if t not in served.loras]
            if missing:
                raise VllmRejected(200, f"{missing[0]!r} is not listed by /v1/models after loading")
        unloaded = []
        for name in served.loras:
            if (MANAGED_NAME_RE.match(name) or STAGING_NAME_RE.match(name)) and name not in wanted:
                if await self.client.unload(name):
                    unloaded.append(name)
        return ApplyResult(loaded, unloaded)

    async def restart_and_wait(self, adapter: Adapter | None, extras: Sequence[Adapter] = ()) -> RestartResult:
        """Run the restart command, then wait until vLLM answers and lists every served
        name. Not ok when the command fails or vLLM does not come up serving them in time;
        the output then ends with the tail of vLLM's log (``log_file``)."""
        res = await self.run_restart(adapter)
        if res.ok:
            wanted = {a.served_name for a in (adapter, *extras) if a is not None}
            why = await self.wait_serving(wanted)
            if why is None:
                return res
            res = RestartResult(False, res.returncode, res.output, True, why)
        elif not res.detail:
            why = "restart command timed out" if res.timed_out else f"restart command exited {res.returncode}"
            res = RestartResult(False, res.returncode, res.output, res.timed_out, why)
        tail = self.log_tail()
        return RestartResult(False, res.returncode, res.output + (f"\n--- vLLM log ---\n{tail}" if tail else ""),
                             res.timed_out, res.detail)

    async def wait_serving(self, wanted: set[str]) -> str | None:
        """None once /v1/models lists every name in ``wanted`` and no other managed
        ``…@vN`` name (so an old vLLM still answering during a rolling restart does not
        count); else why not, after ``restart_timeout`` seconds."""
        assert self.client is not None
        deadline = time.monotonic() + self.restart_timeout
        why = "vLLM did not answer"
        while True:
            try:
                served = await self.client.models()
                missing = sorted(wanted - set(served.loras))
                stale = sorted(n for n in served.loras if MANAGED_NAME_RE.match(n) and n not in wanted)
                if not missing and not stale:
                    return None
                why = (f"vLLM is up but does not serve {', '.join(missing)}" if missing
                       else f"vLLM still serves {', '.join(stale)}")
            except VllmUnreachable as exc:
                why = f"vLLM did not answer: {exc}"
            except VllmRejected as exc:
                why = f"vLLM answered {exc.status}: {exc.message}"
            if time.monotonic() >= deadline:
                return f"{why} within {self.restart_timeout:g}s of the restart"
            await asyncio.sleep(self.poll_interval)

    def log_tail(self, chars: int = 4000) -> str:
        if not self.log_file:
            return ""
        try:
            with open(self.log_file, "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - chars))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    async def run_restart(self, adapter: Adapter | None) -> RestartResult:
        env = dict(os.environ)
        env["TUNEFORGE_ACTIVE_ADAPTER"] = adapter.name if adapter else ""
        env["TUNEFORGE_ACTIVE_PATH"] = str(adapter.path) if adapter else ""
        env["TUNEFORGE_ACTIVE_SERVED_NAME"] = adapter.served_name if adapter else ""
        return await run_command(self.restart_command, env, self.restart_timeout)
