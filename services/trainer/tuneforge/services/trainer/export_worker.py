"""Export a LoRA adapter for llama.cpp / Ollama (GGUF), vLLM (AWQ W4A16) or as a merged model.

    python -m tuneforge.services.trainer.export_worker --spec SPEC.json

Spec (export.export_spec): ``adapter_dir``, ``adapter_name``, ``base_model`` (default: the
adapter's ``base_model_name_or_path``), ``format`` (gguf, gguf-lora, awq, merged), ``quant``,
``output_dir`` (must not exist, or be empty), ``llama_cpp_dir`` (llama.cpp's converters, see
gguf_export), ``awq_python`` (the interpreter of llm-compressor's virtualenv),
``calibration_file`` + ``calibration_samples`` (AWQ), ``reserve_bytes`` (disk to leave free).

Stages, each a progress phase: check (adapter, base offline, architecture, free disk) →
merge (not for gguf-lora) → convert (GGUF: llama.cpp's converter, then its quantizer for
k-quants; AWQ: llm-compressor in its own interpreter, whose events are relayed) → Modelfile
(GGUF) → checksums (``SHA256SUMS``). Everything is written into a temporary sibling of
``output_dir`` that is renamed into place only when complete; a stop (SIGTERM) between stages,
an error or a full disk (RESOURCE_EXHAUSTED DISK_FULL) leaves nothing behind.

Result: ``{"output_dir", "format", "quant", "adapter_name", "base_model", "architecture",
"files", "primary_file", "sha256", "size_bytes", "calibration_samples", "serving_check"}``.

Serving check (gguf, gguf-lora; export_check): before the checksums, llama.cpp answers the
conformance prompts with the GGUF's embedded template; parity (vs the merged / PEFT model) and
stop rate are written to ``SERVING_CHECK.json`` and are the result's ``serving_check``.
Reported, never gated (spec ``conformance``: the thresholds; ``serving_check: false`` skips it).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuneforge.runtime import worker_events as ev
from tuneforge.runtime.checksums import CHECKSUMS, write_checksums
from tuneforge.runtime.errors import (
    failed_precondition,
    invalid_argument,
    resource_exhausted,
)
from tuneforge.runtime.pythonpath import worker_pythonpath
from tuneforge.services.trainer import export as ex
from tuneforge.services.trainer.merge_worker import check_spec


class Stopped(Exception):
    """A stop was requested between stages: the job ends CANCELLED with nothing written."""


@dataclass
class Plan:
    adapter: Path
    adapter_name: str
    base: str  # what from_pretrained gets
    base_dir: Path  # a local directory (hub ids resolved in the local cache)
    fmt: str
    quant: str
    out: Path
    architecture: str
    spec: dict[str, Any]
    calibration_samples: int = 0  # set by the AWQ stage
    merged: Path | None = None  # the merged model (gguf), the serving check's reference
    serving_check: dict[str, Any] | None = None


# ----------------------------------------------------------------------------- check
def _base_dir(base: str) -> Path:
    if Path(base).expanduser().is_dir():
        return Path(base).expanduser().resolve()
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(base, local_files_only=True))
    except Exception as exc:  # noqa: BLE001 - any failure means "not here offline"
        raise invalid_argument("base_model", f"cannot load {base!r} offline: {exc}",
                               reason="BASE_MODEL_NOT_AVAILABLE") from None


def plan(spec: dict[str, Any]) -> Plan:
    adapter, (fmt, quant), out, base = check_spec(
        spec, between=lambda: ex.check_format(spec.get("format", ""), spec.get("quant", "")))
    base_dir = _base_dir(base)
    arch = ex.check_architecture(base_dir / "config.json", fmt)
    if fmt == "awq" and not Path(spec.get("calibration_file") or "").is_file():
        raise invalid_argument("calibration_file", "AWQ calibrates on the adapter's training data; none found",
                               reason="CALIBRATION_DATA_MISSING")
    weights = sum(p.stat().st_size for p in base_dir.iterdir() if p.suffix in (".safetensors", ".bin"))
    ex.check_free_space(out.parent, ex.needed_bytes(weights, fmt), int(spec.get("reserve_bytes") or 0))
    return Plan(adapter, spec.get("adapter_name") or adapter.parent.name, base, base_dir, fmt, quant, out, arch, spec)


def _checkpoint() -> None:
    if ev.stop_requested():
        raise Stopped


# ----------------------------------------------------------------------------- stages
def _merge(p: Plan, work: Path) -> Path:
    from tuneforge.services.trainer.merge_worker import merge_into

    merged = work / "merged"
    merged.mkdir()
    ev.progress(phase="loading_model", message=f"loading {p.base} on CPU")
    if merge_into(p.adapter, p.base, merged, "auto") is None:
        raise Stopped
    return merged


def _shadow(model_dir: Path, work: Path) -> Path:
    """A view of a model directory whose template files are copies we may clean (weights are
    links), so converting a base never touches the original."""
    view = work / "base-view"
    view.mkdir()
    for item in model_dir.iterdir():
        if item.name in ("tokenizer_config.json", "chat_template.jinja"):
            shutil.copyfile(item, view / item.name)
        else:
            (view / item.name).symlink_to(item.resolve())
    ex.clean_chat_template(view)
    return view


def _eos_tokens(model_dir: Path) -> list[str]:
    cfg = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    eos = cfg.get("eos_token")
    eos = eos.get("content") if isinstance(eos, dict) else eos
    return [eos] if isinstance(eos, str) else []


def _modelfile(p: Plan, model_dir: Path, out: Path, model_file: str, adapter_file: str | None) -> None:
    template = ex.clean_chat_template(model_dir)
    title = f"{p.adapter_name} ({p.fmt} {p.quant}) on {p.base}, exported by tuneforge"
    (out / ex.MODELFILE).write_text(
        ex.ollama_modelfile(model_file, template, _eos_tokens(model_dir), adapter_file, title), encoding="utf-8")


def _gguf(p: Plan, work: Path, out: Path) -> str:
    from tuneforge.services.trainer import gguf_export

    tools = Path(p.spec.get("llama_cpp_dir") or "")
    merged = _merge(p, work)
    _checkpoint()
    ex.clean_chat_template(merged)
    p.merged = merged
    name = f"{p.adapter_name}-{p.quant}.gguf"
    ev.progress(phase="converting", message=f"llama.cpp convert_hf_to_gguf → {p.quant}")
    if p.quant in gguf_export.K_QUANTS:
        f16 = gguf_export.convert_model(merged, work / "model-f16.gguf", "f16", tools, p.adapter_name)
        _checkpoint()
        ev.progress(phase="quantizing", message=f"llama.cpp quantize → {p.quant}")
        gguf_export.quantize(f16, out / name, p.quant)
    else:
        gguf_export.convert_model(merged, out / name, p.quant, tools, p.adapter_name)
    _modelfile(p, merged, out, name, None)
    return name


def _gguf_lora(p: Plan, work: Path, out: Path) -> str:
    from tuneforge.services.trainer import gguf_export

    tools = Path(p.spec.get("llama_cpp_dir") or "")
    view = _shadow(p.base_dir, work)
    base_name, adapter_name = f"base-{p.quant}.gguf", f"{p.adapter_name}-lora-{p.quant}.gguf"
    ev.progress(phase="converting", message=f"llama.cpp convert_hf_to_gguf (base) → {p.quant}")
    gguf_export.convert_model(view, out / base_name, p.quant, tools)
    _checkpoint()
    ev.progress(phase="converting_adapter", message=f"llama.cpp convert_lora_to_gguf → {p.quant}")
    gguf_export.convert_lora(p.adapter, view, out / adapter_name, p.quant, tools)
    _modelfile(p, view, out, base_name, adapter_name)
    return adapter_name


def _merged(p: Plan, work: Path, out: Path) -> str:
    merged = _merge(p, work)
    for item in merged.iterdir():
        os.rename(item, out / item.name)
    return "model.safetensors" if (out / "model.safetensors").is_file() else ""


def _awq(p: Plan, work: Path, out: Path) -> str:
    merged = _merge(p, work)
    _checkpoint()
    spec = {"model_dir": str(merged), "output_dir": str(out), "calibration_file": p.spec["calibration_file"],
            "num_samples": p.spec.get("calibration_samples") or 64, "scheme": "W4A16_ASYM"}
    result = run_relayed(p.spec.get("awq_python") or "", "tuneforge.services.trainer.awq_worker", spec, work)
    p.calibration_samples = int(result.get("num_calibration_samples") or 0)
    return "model.safetensors" if (out / "model.safetensors").is_file() else ""


STAGES = {"gguf": _gguf, "gguf-lora": _gguf_lora, "merged": _merged, "awq": _awq}


def _serving_check(p: Plan, out: Path, primary: str) -> None:
    """Ask llama.cpp the conformance questions about the GGUF (export_check); reported, never
    gated: a check that cannot run is a report saying why, not a failed export."""
    from tuneforge.services.trainer import export_check as chk

    version = int(p.spec.get("adapter_version") or 0)
    if p.spec.get("serving_check") is False:
        return
    if p.fmt == "awq":
        p.serving_check = chk.skipped(p.adapter_name, version, p.quant, (
            "report-only: AWQ W4A16 changes tokens; its serving check runs on vLLM (the registry's conformance "
            "check once it is served), which needs a GPU's W4A16 kernel, not run by the export"))
    elif p.fmt in ("gguf", "gguf-lora"):
        ev.progress(phase="serving_check", message="llama.cpp: parity and stop rate on the conformance prompts")
        t = chk.Thresholds.of(p.spec.get("conformance"))
        try:
            lora = out / primary if p.fmt == "gguf-lora" else None
            gguf = out / (f"base-{p.quant}.gguf" if lora else primary)
            p.serving_check = chk.check_gguf(
                gguf=gguf, lora=lora, base_dir=p.base_dir, adapter=p.adapter, merged=p.merged,
                adapter_name=p.adapter_name, version=version, quant=p.quant,
                prompts=chk.prompts_from(p.spec.get("check_prompts_file") or p.spec.get("calibration_file"), t.prompts),
                thresholds=t)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - reported, not gated
            ev.log(f"serving check failed: {type(exc).__name__}: {exc}")
            p.serving_check = chk.skipped(p.adapter_name, version, p.quant,
                                          f"the llama.cpp check could not run: {type(exc).__name__}: {exc}")
    else:
        return
    report = p.serving_check
    (out / chk.REPORT_FILE).write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    if report.get("parity") is not None:
        ev.log(f"serving check (llama.cpp): parity {report['parity']:.2f}, stop rate {report['stop_rate']:.2f}, "
               f"leak rate {report['leak_rate']:.2f} — {report['parity_detail']}")


# ----------------------------------------------------------------------------- AWQ relay
def run_relayed(python: str, module: str, spec: dict[str, Any], work: Path) -> dict[str, Any]:
    """Run a worker module under another interpreter and relay its progress and log events.

    A stop here is forwarded as SIGTERM; the child's ``error`` event becomes our error.
    """
    if not python or not Path(python).is_file():
        raise failed_precondition("EXPORT_TOOLS_MISSING", f"the AWQ interpreter {python or '(unset)'} is missing; "
                                  "run scripts/setup_export_env.sh (or set export_awq_python)")
    spec_path = work / "awq.spec.json"
    spec_path.write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONPATH": worker_pythonpath()}  # every part of tuneforge (the layout)
    proc = subprocess.Popen([python, "-m", module, "--spec", str(spec_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    done = threading.Event()

    def forward_stop() -> None:
        while not done.wait(0.5):
            if ev.stop_requested() and proc.poll() is None:
                proc.terminate()
                return

    threading.Thread(target=forward_stop, daemon=True).start()
    result: dict[str, Any] = {}
    failure: tuple[str, str] | None = None
    assert proc.stdout is not None
    for line in proc.stdout:
        event = _event(line)
        if event is None:
            ev.log(line.rstrip())
        elif event["event"] == "result":
            result = event.get("data") or {}
        elif event["event"] == "error":
            failure = (event.get("reason") or "AWQ_QUANTIZATION_FAILED", event.get("message") or "")
        elif event["event"] in ("progress", "log"):
            ev.emit(event.pop("event"), **{k: v for k, v in event.items() if k != "time"})
    code = proc.wait()
    done.set()
    if ev.stop_requested():
        raise Stopped
    if failure or code != 0:
        reason, message = failure or ("AWQ_QUANTIZATION_FAILED", f"exit status {code}")
        raise failed_precondition(reason, message)
    return result


def _event(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) and "event" in obj else None


# ----------------------------------------------------------------------------- main
def run(p: Plan) -> dict[str, Any]:
    p.out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{p.out.name}-work-", dir=p.out.parent))
    staged = work / "out"
    staged.mkdir()
    try:
        primary = STAGES[p.fmt](p, work, staged)
        _checkpoint()
        _serving_check(p, staged, primary)
        _checkpoint()
        ev.progress(phase="checksums", message="writing SHA256SUMS")
        sums = write_checksums(staged)
        if p.out.exists():
            p.out.rmdir()  # empty (checked in plan)
        os.rename(staged, p.out)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise resource_exhausted("DISK_FULL", f"the disk filled up while exporting to {p.out}: {exc}") from None
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"output_dir": str(p.out.resolve()), "format": p.fmt, "quant": p.quant, "adapter_name": p.adapter_name,
            "base_model": p.base, "architecture": p.architecture, "files": sorted([*sums, CHECKSUMS]),
            "primary_file": primary, "sha256": sums.get(primary, ""), "size_bytes": ex.dir_size(p.out),
            "calibration_samples": p.calibration_samples,
            **({"serving_check": p.serving_check} if p.serving_check is not None else {})}  # fmt: skip


def main(spec: dict[str, Any]) -> None:
    ev.offline_hub()
    ev.progress(phase="checking", message="checking the adapter, the base model and the disk")
    p = plan(spec)
    try:
        ev.result(run(p))
    except Stopped:
        ev.log("stop requested; nothing written")


if __name__ == "__main__":
    ev.run_main(main)
