"""The conformance check: does the adapter behave on vLLM's serving path as it was trained?

The complaints users have after training are about serving, not training: the model never
stops (the end-of-turn token was learned by the trainer but is not the server's stop
token), the chat template leaks into the answers, the served adapter answers differently
from the PEFT model that was evaluated. So the check runs against vLLM itself, through its
OpenAI chat endpoint and the served tokenizer's template, on a served name (a staging name
before promotion, see staging.py, or the production name on demand):

* **stop rate** — the share of greedy replies (``/v1/chat/completions``, ``temperature 0``,
  ``max_tokens``) that end with the end-of-turn token (``finish_reason == "stop"``) rather
  than at the length limit;
* **template leakage** — the share of replies (asked with ``skip_special_tokens: false``)
  whose text holds a special token or a role marker (``<|im_start|>``, ``</s>``,
  ``[INST]``, a line ``assistant:``…);
* **greedy parity** — for each prompt, the first ``parity_tokens`` greedy tokens through vLLM
  (prompt ids from vLLM's own ``/tokenize`` with the chat template, so both sides see the same
  input) equal ``PeftModel.generate(do_sample=False)``'s on the same base. The PEFT side runs
  in a child process with the ML stack (peft_reference.py; the registry itself stays
  torch-free) and is stored per adapter version and prompt, so later checks reuse it. When
  the base model is not on this machine, parity is "not measured" and does not gate.

Prompts: the user turns of the adapter's dataset (its validation split first) when the
dataset lies under the data root, else :data:`PROBE_PROMPTS`. Thresholds are settings
(``conformance_*``); a check that misses one reports the metric and its value
(``failed_metric``), and an activation that requires it is refused FAILED_PRECONDITION
``CONFORMANCE_FAILED``. Reports are kept per adapter version (``registry_conformance``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tuneforge.runtime.pythonpath import worker_pythonpath
from tuneforge.runtime.store import Store
from tuneforge.services.registry.adapters import Adapter, utc_now
from tuneforge.services.registry.vllm import VllmClient, VllmRejected

PROBE_PROMPTS = (
    "Hello, who are you?",
    "What can you help me with today?",
    "Say something short about the weather.",
    "Thanks for the help!",
    "Can you answer one question for me?",
    "Tell me what you think.",
    "How was your day?",
    "Please reply briefly.",
)
FINGERPRINT_PROMPT = "Hello world, the model answers"
FINGERPRINT_TOKENS = 8
LEAK_RE = re.compile(
    r"<\|[A-Za-z0-9_]+\|>|</?s>|\[/?INST\]|<(?:start|end)_of_turn>|<\|?(?:im_start|im_end|eot_id)\|?>"
    r"|^\s*(?:user|assistant|system)\s*(?::|\n)",
    re.M | re.I,
)

MIGRATIONS = [
    (
        "registry_0010_conformance",
        """
        CREATE TABLE registry_conformance (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            report TEXT NOT NULL,
            check_time TEXT NOT NULL
        );
        CREATE TABLE registry_peft_reference (
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            prompt_sha256 TEXT NOT NULL,
            tokens TEXT NOT NULL,
            PRIMARY KEY (name, version, prompt_sha256)
        );
        CREATE TABLE registry_fingerprints (
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            files_sha256 TEXT NOT NULL,
            probe_tokens TEXT NOT NULL DEFAULT '',
            base_tokens TEXT NOT NULL DEFAULT '',
            record_time TEXT NOT NULL,
            PRIMARY KEY (name, version)
        );
        """,
    ),
]


@dataclass(frozen=True)
class ConformanceSettings:
    """The ``conformance_*`` settings (docs/configuration.md)."""

    prompts: int = 4
    max_tokens: int = 32
    parity_tokens: int = 8
    min_stop_rate: float = 0.75
    max_leak_rate: float = 0.0
    min_parity: float = 0.75
    timeout: float = 300.0
    reference_python: str = ""  # the interpreter with torch + peft ("" = this one)


@dataclass
class ConformanceReport:
    adapter: str
    version: int
    served_name: str
    prompts: int = 0
    stop_rate: float = 0.0
    leak_rate: float = 0.0
    leaks: list[str] = field(default_factory=list)
    parity: float | None = None  # None: not measured (parity_detail says why)
    parity_detail: str = ""
    passed: bool = False
    failed_metric: str = ""
    failed_value: float = 0.0
    threshold: float = 0.0
    staged: bool = False
    check_time: str = ""
    settings: dict = field(default_factory=dict)

    def summary(self) -> str:
        parity = "not measured" if self.parity is None else f"{self.parity:.2f}"
        verdict = "passed" if self.passed else f"FAILED on {self.failed_metric} {self.failed_value:.2f}"
        return (f"{self.served_name}: stop rate {self.stop_rate:.2f}, leakage {self.leak_rate:.2f}, "
                f"parity {parity} over {self.prompts} prompts — {verdict}")


def files_sha256(path: Path | str) -> str:
    """SHA-256 over the adapter's weights and config (names and bytes, sorted): what vLLM
    loads. A file swapped on disk behind vLLM's back changes it."""
    digest = hashlib.sha256()
    root = Path(path)
    for f in sorted(root.iterdir()):
        if f.is_file() and (f.suffix in (".safetensors", ".bin") or f.name == "adapter_config.json"):
            digest.update(f.name.encode() + b"\0")
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def leaked(text: str) -> list[str]:
    """The special tokens and role markers in a reply (a trailing end-of-turn token, which
    vLLM may keep in the text with ``skip_special_tokens`` off, does not count)."""
    body = re.sub(r"(?:<\|im_end\|>|<\|eot_id\|>|<\|endoftext\|>|</s>|<end_of_turn>)\s*$", "", text)
    return sorted({m.group(0).strip() for m in LEAK_RE.finditer(body)})


def dataset_prompts(data_root: Path, dataset: str, limit: int) -> list[str]:
    """User turns from ``datasets/<dataset>/`` (validation split first); [] when none."""
    if not dataset or "/" in dataset or dataset.startswith("."):
        return []
    out: list[str] = []
    for name in ("validation.jsonl", "data.jsonl"):
        path = data_root / "datasets" / dataset / name
        if not path.is_file():
            continue
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                messages = row.get("messages") if isinstance(row, dict) else None
                for m in messages if isinstance(messages, list) else []:
                    if isinstance(m, dict) and m.get("role") == "user" and str(m.get("content") or "").strip():
                        out.append(str(m["content"])[:500])
                        break
                if len(out) >= limit:
                    return out
    return out


class ConformanceStore:
    """Reports, PEFT references and fingerprints per adapter version."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate(MIGRATIONS)

    def record(self, report: ConformanceReport) -> None:
        self.store.execute(
            "INSERT INTO registry_conformance(name, version, report, check_time) VALUES (?,?,?,?)",
            (report.adapter, report.version, json.dumps(asdict(report)), report.check_time))

    def latest(self, name: str, version: int) -> ConformanceReport | None:
        row = self.store.query_one(
            "SELECT report FROM registry_conformance WHERE name=? AND version=? ORDER BY id DESC LIMIT 1",
            (name, version))
        return ConformanceReport(**json.loads(row["report"])) if row else None

    def reference(self, name: str, version: int, key: str) -> list[int] | None:
        row = self.store.query_one(
            "SELECT tokens FROM registry_peft_reference WHERE name=? AND version=? AND prompt_sha256=?",
            (name, version, key))
        return json.loads(row["tokens"]) if row else None

    def keep_reference(self, name: str, version: int, key: str, tokens: list[int]) -> None:
        self.store.execute(
            "INSERT OR REPLACE INTO registry_peft_reference(name, version, prompt_sha256, tokens) VALUES (?,?,?,?)",
            (name, version, key, json.dumps(tokens)))

    # ------------------------------------------------------------ fingerprints
    def fingerprint(self, name: str, version: int) -> dict | None:
        row = self.store.query_one("SELECT * FROM registry_fingerprints WHERE name=? AND version=?", (name, version))
        if row is None:
            return None
        return {"files_sha256": row["files_sha256"],
                "probe_tokens": json.loads(row["probe_tokens"]) if row["probe_tokens"] else None,
                "base_tokens": json.loads(row["base_tokens"]) if row["base_tokens"] else None}

    def record_files(self, adapter: Adapter) -> str:
        """At registration: the files' SHA-256 (kept if already recorded for this version)."""
        sha = files_sha256(adapter.path)
        self.store.execute(
            "INSERT OR IGNORE INTO registry_fingerprints(name, version, files_sha256, record_time) VALUES (?,?,?,?)",
            (adapter.name, adapter.version, sha, utc_now()))
        return sha

    def record_probe(self, adapter: Adapter, probe: list[int], base: list[int]) -> None:
        self.record_files(adapter)
        self.store.execute(
            "UPDATE registry_fingerprints SET probe_tokens=?, base_tokens=? WHERE name=? AND version=?",
            (json.dumps(probe), json.dumps(base), adapter.name, adapter.version))


def _prompt_key(ids: list[int], n: int) -> str:
    return hashlib.sha256(json.dumps([ids, n]).encode()).hexdigest()


class ConformanceChecker:
    """Runs the check through one vLLM (``client``) and keeps what it measured."""

    def __init__(self, client: VllmClient, store: ConformanceStore, settings: ConformanceSettings,
                 data_root: Path, thinking=None) -> None:
        self.client = client
        self.store = store
        self.settings = settings
        self.data_root = Path(data_root)
        self.thinking = thinking  # thinking.ThinkingStore: the version's enable_thinking, sent to the template

    def prompts_for(self, adapter: Adapter) -> list[str]:
        n = self.settings.prompts
        found = dataset_prompts(self.data_root, adapter.dataset, n)
        return (found + [p for p in PROBE_PROMPTS if p not in found])[:n]

    async def check(self, adapter: Adapter, served_name: str, staged: bool = False) -> ConformanceReport:
        s = self.settings
        prompts = self.prompts_for(adapter)
        report = ConformanceReport(adapter.name, adapter.version, served_name, prompts=len(prompts), staged=staged,
                                   settings=asdict(s) | {"reference_python": ""})
        stops, leaks, leaky = 0, set(), 0
        prompt_ids: list[list[int]] = []
        served_tokens: list[list[int]] = []
        template_kwargs = self.thinking.kwargs(adapter) if self.thinking is not None else {}
        for prompt in prompts:
            messages = [{"role": "user", "content": prompt}]
            reply = await self.client.post_json("/v1/chat/completions", {
                "model": served_name, "messages": messages, "max_tokens": s.max_tokens, "temperature": 0,
                "skip_special_tokens": False, **template_kwargs,
            })
            choice = reply["choices"][0]
            stops += choice.get("finish_reason") == "stop"
            found = leaked(str((choice.get("message") or {}).get("content") or ""))
            leaky += bool(found)
            leaks.update(found)
            ids = (await self.client.post_json("/tokenize", {
                "model": served_name, "messages": messages, "add_generation_prompt": True,
                **template_kwargs}))["tokens"]
            prompt_ids.append(ids)
            served_tokens.append(await greedy_ids(self.client, served_name, ids, s.parity_tokens))
        n = max(1, len(prompts))
        report.stop_rate, report.leak_rate, report.leaks = stops / n, leaky / n, sorted(leaks)[:10]
        report.parity, report.parity_detail = await self._parity(adapter, prompt_ids, served_tokens)
        self._judge(report)
        report.check_time = utc_now()
        self.store.record(report)
        return report

    def _judge(self, r: ConformanceReport) -> None:
        s = self.settings
        misses = [("stop_rate", r.stop_rate, s.min_stop_rate, r.stop_rate < s.min_stop_rate),
                  ("leak_rate", r.leak_rate, s.max_leak_rate, r.leak_rate > s.max_leak_rate),
                  ("parity", r.parity or 0.0, s.min_parity, r.parity is not None and r.parity < s.min_parity)]
        failed = next((m for m in misses if m[3]), None)
        r.passed = failed is None
        if failed:
            r.failed_metric, r.failed_value, r.threshold = failed[0], failed[1], failed[2]

    async def _parity(self, adapter: Adapter, prompt_ids: list[list[int]],
                      served: list[list[int]]) -> tuple[float | None, str]:
        k = self.settings.parity_tokens
        base = await self._base_dir(adapter)
        if base is None:
            return None, "not measured: the base model is not a directory on this machine"
        keys = [_prompt_key(ids, k) for ids in prompt_ids]
        refs = [self.store.reference(adapter.name, adapter.version, key) for key in keys]
        todo = [i for i, r in enumerate(refs) if r is None]
        if todo:
            try:
                computed = await peft_reference(self.settings.reference_python, base, adapter.path,
                                                [prompt_ids[i] for i in todo], k, self.settings.timeout)
            except RuntimeError as exc:
                return None, f"not measured: {exc}"
            for i, tokens in zip(todo, computed):
                refs[i] = tokens
                self.store.keep_reference(adapter.name, adapter.version, keys[i], tokens)
        same = sum(r == s for r, s in zip(refs, served))
        first = next((i for i, (r, s) in enumerate(zip(refs, served)) if r != s), None)
        detail = "" if first is None else (
            f"prompt {first}: vLLM {served[first]} vs PEFT {refs[first]} (first divergence at token "
            f"{next((j for j, (a, b) in enumerate(zip(served[first], refs[first])) if a != b), 0)})")
        return same / max(1, len(served)), detail

    async def _base_dir(self, adapter: Adapter) -> str | None:
        try:
            models = await self.client.models()
        except Exception:  # noqa: BLE001 - parity is then not measured, the rest still is
            models = None
        for ref in (models.base_root if models else None, adapter.base_model):
            if ref and Path(ref).is_dir() and (Path(ref) / "config.json").is_file():
                return ref
        return None

    async def fingerprint_tokens(self, served_name: str) -> list[int]:
        """The fixed prompt's first greedy tokens through ``served_name`` (an adapter, or the base)."""
        ids = (await self.client.post_json("/tokenize", {"model": served_name, "prompt": FINGERPRINT_PROMPT}))["tokens"]
        return await greedy_ids(self.client, served_name, ids, FINGERPRINT_TOKENS)


async def greedy_ids(client: VllmClient, model: str, prompt_ids: list[int], n: int) -> list[int]:
    """vLLM's first ``n`` greedy tokens after ``prompt_ids`` (never stopping early)."""
    body = await client.post_json("/v1/completions", {
        "model": model, "prompt": prompt_ids, "max_tokens": n, "temperature": 0, "ignore_eos": True,
        "return_token_ids": True,
    })
    tokens = body["choices"][0].get("token_ids")
    if tokens is None:
        raise VllmRejected(200, "vLLM did not return token ids (return_token_ids needs vLLM 0.10.2 or later)")
    return list(tokens)


async def peft_reference(python: str, base: str, adapter: Path, prompts: list[list[int]], n: int,
                         timeout: float) -> list[list[int]]:
    """PeftModel's greedy tokens for each prompt, computed by peft_reference.py in a child
    process (the interpreter with torch and peft). RuntimeError when it cannot."""
    env = {**os.environ, "PYTHONPATH": worker_pythonpath(os.environ.get("PYTHONPATH")),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = await asyncio.create_subprocess_exec(
        python or sys.executable, "-m", "tuneforge.services.registry.peft_reference",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    request = json.dumps({"base": base, "adapter": str(adapter), "prompts": prompts, "max_new_tokens": n})
    try:
        out, err = await asyncio.wait_for(proc.communicate(request.encode()), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"the PEFT reference took longer than {timeout:g}s") from None
    if proc.returncode != 0:
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"the PEFT reference failed: {tail[0][:300]}")
    return json.loads(out)["tokens"]


__all__ = ["ConformanceChecker", "ConformanceReport", "ConformanceSettings", "ConformanceStore", "files_sha256",
           "leaked"]
