"""One GPU shared by vLLM and training: put vLLM to sleep around a GPU job, wake it after.

With ``vllm_share_gpu = true`` a GPU job (LLM or TTS training) runs between :meth:`sleep`
and :meth:`wake` — wired as the job kind's ``before_start`` and ``on_end`` hooks, so the wake
happens whatever the outcome (succeeded, failed, stopped, the worker never started).

vLLM's sleep mode, as its server answers it (vllm 0.32, ``entrypoints/serve/dev/sleep``):

* ``POST /sleep?level=1`` → 200 ``{"status": "sleeping", "level": 1}``: level 1 offloads the
  weights to CPU memory and drops the KV cache; level 2 drops both (wake reloads nothing, so
  only for a server that will load new weights);
* ``POST /wake_up`` (optional repeated ``tags=weights&tags=kv_cache``) →
  200 ``{"status": "awake", "tags": null}``;
* ``GET /is_sleeping`` → 200 ``{"is_sleeping": bool}``.

The routes exist only when vLLM runs with ``VLLM_SERVER_DEV_MODE=1``; without it ``/sleep``
is a 404, reported here as a clear VLLM_SLEEP_UNSUPPORTED error that says what to start vLLM
with. Freeing GPU memory also needs ``--enable-sleep-mode`` (CUDA, ROCm and XPU; the CPU build
refuses the flag, yet in dev mode serves the routes and states all the same, its worker
ignoring the memory part — which is how tests/registry/test_registry_real_vllm.py checks this
module against the real server). While asleep, vLLM holds new generation requests until it
wakes. Runtime-loaded LoRA adapters are not promised to survive a sleep (level 2
drops everything; at level 1 only allocations tagged as weights are kept), so :meth:`sleep`
first notes the adapters vLLM serves (``GET /v1/models``: the cards with a ``parent``) and
:meth:`wake` loads each again (unload, then ``POST /v1/load_lora_adapter`` with the same name
and path), whatever set the registry had put there. Every call is one bounded exchange
(vllm_http.py): an overall deadline and an answer-size cap, so a vLLM that hangs or floods
fails the sleep (and with it the job, before its worker starts) or is logged at the wake,
never holding the job's start or end. Transport-only HTTP (stdlib), no torch.
"""

from __future__ import annotations

import json
from typing import Awaitable, Callable

from tuneforge.runtime.errors import failed_precondition, unavailable
from tuneforge.runtime.logging import get_logger
from tuneforge.runtime.vllm_http import MAX_RESPONSE_BYTES, HttpFailure, exchange

log = get_logger("tuneforge.vllm_sleep")
START_HINT = ("start vLLM with VLLM_SERVER_DEV_MODE=1 in its environment and --enable-sleep-mode "
              "(a CUDA/ROCm/XPU build: without it a sleeping vLLM keeps its GPU memory), or set "
              "vllm_share_gpu = false")


class VllmSleeper:
    """Sleep / wake calls to one vLLM server; ``reapply`` re-loads the served adapters."""

    def __init__(self, url: str, *, level: int = 1, timeout: float = 120.0,
                 api_key: str | None = None) -> None:
        if level not in (1, 2):
            raise ValueError(f"sleep level must be 1 or 2, got {level}")
        self.url = url.rstrip("/")
        self.level = level
        self.timeout = timeout
        self.api_key = api_key
        self.served: dict[str, str] = {}  # adapter name -> path, noted before sleeping

    async def _call(self, method: str, path: str, payload: dict | None = None) -> tuple[int, dict]:
        body = json.dumps(payload).encode() if payload is not None else (b"" if method == "POST" else None)
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            status, raw = await exchange(self.url, method, path, body, headers,
                                         timeout=self.timeout, max_bytes=MAX_RESPONSE_BYTES)
        except HttpFailure as exc:
            raise unavailable(exc.reason, f"vLLM at {self.url}: {exc}") from None
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            data = {"raw": raw[:200].decode("utf-8", "replace")}
        return status, data if isinstance(data, dict) else {"value": data}

    async def _request(self, method: str, path: str, payload: dict | None = None) -> dict:
        status, data = await self._call(method, path, payload)
        if status == 404 and path.split("?")[0] in ("/sleep", "/wake_up", "/is_sleeping"):
            raise failed_precondition("VLLM_SLEEP_UNSUPPORTED",
                                      f"vLLM at {self.url} has no {path.split('?')[0]} route: "
                                      f"{START_HINT}")
        if status >= 400:
            message = (data.get("error") or {}).get("message") if isinstance(
                data.get("error"), dict) else data.get("detail") or data.get("raw")
            raise unavailable("VLLM_SLEEP_FAILED",
                              f"vLLM {method} {path} answered {status}: {message or data}")
        return data

    async def is_sleeping(self) -> bool:
        return bool((await self._request("GET", "/is_sleeping")).get("is_sleeping"))

    async def sleep(self) -> None:
        """Note the served adapters, then free the GPU: vLLM offloads (level 1) or drops
        (level 2) its weights and KV cache."""
        cards = (await self._request("GET", "/v1/models")).get("data") or []
        self.served = {c["id"]: c.get("root") or "" for c in cards
                       if isinstance(c, dict) and c.get("parent")}
        await self._request("POST", f"/sleep?level={self.level}")
        log.info("vllm_sleeping", url=self.url, level=self.level, adapters=sorted(self.served))

    async def wake(self) -> None:
        """Wake vLLM fully, then load the adapters it served before sleeping again."""
        data = await self._request("POST", "/wake_up")
        if data.get("status") not in (None, "awake"):
            raise unavailable("VLLM_SLEEP_FAILED", f"vLLM did not wake fully: {data}")
        log.info("vllm_awake", url=self.url)
        for name, path in self.served.items():
            status, _ = await self._call("POST", "/v1/unload_lora_adapter", {"lora_name": name})
            await self._request("POST", "/v1/load_lora_adapter",
                                {"lora_name": name, "lora_path": path})
            log.info("vllm_adapter_reapplied", adapter=name, unloaded=status == 200)


def job_hooks(sleeper: VllmSleeper, on_end: Callable | None = None,
              after_wake: Callable[[], Awaitable[None]] | None = None,
              ) -> tuple[Callable[..., Awaitable[None]], Callable[..., Awaitable[None]]]:
    """``(before_start, on_end)`` for a GPU job kind: sleep before, wake after (then
    ``after_wake`` — the registry's VerifyServing, which probes every served adapter against
    its fingerprint — and the kind's own ``on_end``). A sleep that fails fails the job
    before its worker starts."""

    async def before_start(job) -> None:
        await sleeper.sleep()

    async def after(job) -> None:
        try:
            await sleeper.wake()
            if after_wake is not None:
                await after_wake()
        except Exception as exc:  # noqa: BLE001 - the job's outcome stands; say why vLLM is down
            log.error("vllm_wake_failed", job_id=getattr(job, "id", None), error=str(exc))
        if on_end is not None:
            await on_end(job)

    return before_start, after


def gpu_job_hooks(config, on_end: Callable | None = None,
                  after_wake: Callable[[], Awaitable[None]] | None = None,
                  ) -> tuple[Callable[..., Awaitable[None]] | None, Callable | None]:
    """The hooks for a GPU job kind from the service config: vLLM sleeps around the job when
    ``vllm_share_gpu`` is on (and ``vllm_url`` set); otherwise ``(None, on_end)``."""
    if not config.vllm_share_gpu:
        return None, on_end
    if not config.vllm_url:
        log.warning("vllm_share_gpu_without_url", hint="set vllm_url, or vllm_share_gpu = false")
        return None, on_end
    sleeper = VllmSleeper(config.vllm_url, level=config.vllm_sleep_level,
                          api_key=config.vllm_api_key or None)
    return job_hooks(sleeper, on_end, after_wake)
