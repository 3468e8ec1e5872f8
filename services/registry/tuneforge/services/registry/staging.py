"""Stage, check, fingerprint: what the registry asks of vLLM before and after an adapter goes live.

* :meth:`ServingCheck.stage_and_check` loads a version under a staging name
  (``name@vN~staging``: not a name the bot calls, never listed as production) beside
  production, proves it serves (listed by ``/v1/models`` *and* one generation through it
  answers — ``load_lora_adapter`` has answered 200 for a path holding no adapter, vLLM issue
  18372), runs the conformance check (conformance.py) on it and unloads it again, whatever
  the outcome. Production is never touched.
* :meth:`ServingCheck.record` keeps a promoted version's fingerprint: the SHA-256 of its
  files (kept since registration) and a fixed prompt's first greedy tokens through it and
  through the base (which must differ, or the adapter changes nothing).
* :meth:`ServingCheck.probe` compares what vLLM serves now with that fingerprint (files on
  disk, then tokens); :meth:`ServingCheck.reload` unloads and loads a served name again.
  The activation manager decides what a mismatch costs (activation_verify.py).
"""

from __future__ import annotations

from tuneforge.runtime.errors import failed_precondition
from tuneforge.services.registry.adapters import Adapter
from tuneforge.services.registry.conformance import ConformanceChecker, ConformanceReport, files_sha256
from tuneforge.services.registry.vllm import STAGING_NAME_RE, VllmClient, VllmRejected

STAGING_SUFFIX = "~staging"


def staging_name(adapter: Adapter) -> str:
    return adapter.served_name + STAGING_SUFFIX


def conformance_failed(report: ConformanceReport) -> Exception:
    return failed_precondition(
        "CONFORMANCE_FAILED",
        f"adapter {report.adapter} v{report.version} failed the conformance check on vLLM: {report.failed_metric} "
        f"{report.failed_value:.2f} (threshold {report.threshold:.2f}); {report.summary()}"
        + (f"; leaked {', '.join(report.leaks[:3])}" if report.leaks else ""),
        adapter=report.adapter, version=str(report.version), metric=report.failed_metric,
        value=f"{report.failed_value:.4f}")


class ServingCheck:
    def __init__(self, client: VllmClient, checker: ConformanceChecker) -> None:
        self.client = client
        self.checker = checker
        self.store = checker.store

    async def prove_serving(self, name: str) -> None:
        """VllmRejected ``ADAPTER_NOT_SERVING`` unless ``name`` is listed and answers."""
        served = await self.client.models()
        if name not in served.loras:
            raise VllmRejected(200, f"{name!r} is not listed by /v1/models after loading", "ADAPTER_NOT_SERVING")
        try:
            await self.client.post_json("/v1/completions", {"model": name, "prompt": "Hello", "max_tokens": 1,
                                                            "temperature": 0})
        except VllmRejected as exc:
            raise VllmRejected(exc.status, f"{name!r} was loaded but does not answer: {exc.message}",
                               "ADAPTER_NOT_SERVING") from None

    async def stage_and_check(self, adapter: Adapter) -> ConformanceReport:
        """Load under the staging name, prove it serves, check it, unload it."""
        name = staging_name(adapter)
        await self.client.unload(name)  # a leftover of an interrupted check
        await self.client.load(name, str(adapter.path))
        try:
            await self.prove_serving(name)
            return await self.checker.check(adapter, name, staged=True)
        finally:
            await self.client.unload(name)

    async def check_served(self, adapter: Adapter) -> ConformanceReport:
        return await self.checker.check(adapter, adapter.served_name)

    async def record(self, adapter: Adapter) -> None:
        """The promoted version's fingerprint: its tokens and the base's."""
        probe = await self.checker.fingerprint_tokens(adapter.served_name)
        base = await self.checker.fingerprint_tokens((await self.client.models()).base_id)
        self.store.record_probe(adapter, probe, base)

    async def probe(self, adapter: Adapter) -> str | None:
        """None when vLLM serves ``adapter`` as fingerprinted; else what differs. A version
        never fingerprinted is fingerprinted now (and passes)."""
        fp = self.store.fingerprint(adapter.name, adapter.version)
        if fp is not None:
            sha = files_sha256(adapter.path)
            if sha != fp["files_sha256"]:
                return (f"the files of {adapter.served_name} changed on disk (sha256 {sha[:12]}…, "
                        f"registered {fp['files_sha256'][:12]}…)")
        if fp is None or fp["probe_tokens"] is None:
            await self.record(adapter)
            return None
        try:
            got = await self.checker.fingerprint_tokens(adapter.served_name)
        except VllmRejected as exc:
            return f"{adapter.served_name} does not answer: {exc.message}"
        if got != fp["probe_tokens"]:
            same_as_base = " (the base model's tokens: the adapter is not applied)" if got == fp["base_tokens"] else ""
            return f"{adapter.served_name} answers {got} instead of its fingerprint {fp['probe_tokens']}{same_as_base}"
        return None

    async def reload(self, adapter: Adapter) -> None:
        await self.client.unload(adapter.served_name)
        await self.client.load(adapter.served_name, str(adapter.path))


__all__ = ["STAGING_NAME_RE", "ServingCheck", "conformance_failed", "staging_name"]
