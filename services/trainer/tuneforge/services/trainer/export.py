"""Exporting an adapter for other runtimes: what may be asked, and the files that go beside it.

Transport-free and torch-free: the service validates a request with it before a job exists,
and the export worker uses the same rules and writers.

| format      | what is written                                               | runs it                   |
|-------------|---------------------------------------------------------------|---------------------------|
| `merged`    | the adapter folded into its base: safetensors + tokenizer     | transformers, vLLM        |
| `gguf`      | the merged model as one GGUF (f16, q8_0, q4_k_m) + Modelfile  | llama.cpp, Ollama         |
| `gguf-lora` | the adapter alone as a GGUF adapter + its base as GGUF        | llama.cpp `--lora`, Ollama `ADAPTER` |
| `awq`       | the merged model, AWQ W4A16 (compressed-tensors)              | vLLM                      |

Every export directory ends with ``SHA256SUMS`` (``sha256sum -c`` format) over its files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import (
    FieldViolation,
    TuneforgeError,
    Code,
    invalid_argument,
    resource_exhausted,
)

FORMATS = ("gguf", "gguf-lora", "awq", "merged")
QUANTS: dict[str, tuple[str, ...]] = {  # first = default
    "gguf": ("f16", "q8_0", "q4_k_m", "f32"),
    "gguf-lora": ("f16", "q8_0", "f32"),
    "awq": ("w4a16",),
    "merged": ("auto",),
}
# The architectures we train and test each format on (config.json "architectures").
ARCHITECTURES = ("Qwen2ForCausalLM", "Qwen3ForCausalLM", "LlamaForCausalLM")
# The export tools scripts/setup_export_env.sh builds once per version (keep both in step).
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
LLMCOMPRESSOR_VERSION = "0.14.0.1"
TOOLS_ROOT = Path(os.environ.get("TUNEFORGE_CACHE") or Path.home() / ".cache" / "tuneforge")
DEFAULT_LLAMA_CPP_DIR = TOOLS_ROOT / f"llama.cpp-{LLAMA_CPP_PYTHON_VERSION}"
DEFAULT_AWQ_PYTHON = TOOLS_ROOT / "venvs" / f"llmcompressor-{LLMCOMPRESSOR_VERSION}" / "bin" / "python"
MODELFILE = "Modelfile"
_GENERATION_TAG = re.compile(r"\{%-?\s*(?:end)?generation\s*-?%\}")


def check_format(fmt: str, quant: str) -> tuple[str, str]:
    """(format, quant) normalised; INVALID_ARGUMENT naming the field otherwise."""
    fmt = (fmt or "").strip().lower()
    if fmt not in FORMATS:
        raise invalid_argument("format", f"one of {', '.join(FORMATS)}; got {fmt or 'nothing'!r}")
    quant = (quant or "").strip().lower() or QUANTS[fmt][0]
    if quant not in QUANTS[fmt]:
        raise invalid_argument("quant", f"{fmt} takes {', '.join(QUANTS[fmt])}; got {quant!r}")
    return fmt, quant


def check_architecture(config_json: Path | None, fmt: str) -> str:
    """The model's architecture; FAILED_PRECONDITION UNSUPPORTED_ARCHITECTURE naming it when
    the format is not built for it (``merged`` takes any)."""
    arch = ""
    if config_json and Path(config_json).is_file():
        archs = json.loads(Path(config_json).read_text(encoding="utf-8")).get("architectures") or []
        arch = archs[0] if archs else ""
    if fmt != "merged" and arch not in ARCHITECTURES:
        raise TuneforgeError(
            Code.FAILED_PRECONDITION, "UNSUPPORTED_ARCHITECTURE",
            f"{fmt} export supports {', '.join(ARCHITECTURES)}; this model is {arch or 'of no named architecture'}",
            [FieldViolation("format", f"{arch or 'unknown architecture'} cannot be exported as {fmt}")],
            metadata={"architecture": arch})  # fmt: skip
    return arch


def output_name(adapter_name: str, fmt: str, quant: str) -> str:
    """Default directory name of an export: ``<adapter>-<format>[-<quant>]``."""
    return f"{adapter_name}-{fmt}" if quant == "auto" else f"{adapter_name}-{fmt}-{quant}"


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def needed_bytes(base_size: int, fmt: str) -> int:
    """A generous estimate of the disk an export takes while it runs (merged copy + result)."""
    return {"merged": 2, "gguf": 4, "gguf-lora": 3, "awq": 3}[fmt] * base_size


def check_free_space(directory: Path, need: int, reserve: int) -> None:
    """RESOURCE_EXHAUSTED DISK_FULL before starting when ``need + reserve`` bytes are not free."""
    directory = Path(directory)
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < need + reserve:
        raise resource_exhausted(
            "DISK_FULL", f"{probe} has {free} bytes free; the export needs about {need} bytes "
            f"plus the configured reserve of {reserve}", free_bytes=str(free), needed_bytes=str(need + reserve))


def strip_generation_tags(template: str) -> str:
    """The chat template without ``{% generation %}`` markers: they only tell trainers which
    tokens to learn, and llama.cpp's and Ollama's template engines do not know the tag."""
    return _GENERATION_TAG.sub("", template)


def clean_chat_template(model_dir: Path) -> str | None:
    """Strip generation markers from the template files of a saved model; return the template."""
    model_dir = Path(model_dir)
    template = None
    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        template = strip_generation_tags(jinja.read_text(encoding="utf-8"))
        jinja.write_text(template, encoding="utf-8")
    cfg_path = model_dir / "tokenizer_config.json"
    if cfg_path.is_file():
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        if isinstance(cfg.get("chat_template"), str):
            cfg["chat_template"] = template = strip_generation_tags(cfg["chat_template"])
            cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False), encoding="utf-8")
    return template


# ----------------------------------------------------------------------------- Ollama
_OLLAMA_TEMPLATES = {  # Go templates equivalent to the HF families, as Ollama's library writes them
    "chatml": ("<|im_start|>", ["<|im_end|>"],
               "{{- range $i, $_ := .Messages }}\n"
               "{{- $last := eq (len (slice $.Messages $i)) 1 -}}\n"
               "<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"
               "{{ if and $last (ne .Role \"assistant\") }}<|im_start|>assistant\n{{ end }}\n"
               "{{- end }}"),
    "llama3": ("<|start_header_id|>", ["<|eot_id|>"],
               "{{- range $i, $_ := .Messages }}\n"
               "{{- $last := eq (len (slice $.Messages $i)) 1 -}}\n"
               "<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>\n"
               "{{- if and $last (ne .Role \"assistant\") }}<|start_header_id|>assistant<|end_header_id|>\n\n{{ end }}\n"
               "{{- end }}"),
}


def chat_family(template: str | None) -> str | None:
    for family, (marker, _stops, _go) in _OLLAMA_TEMPLATES.items():
        if template and marker in template:
            return family
    return None


def ollama_modelfile(model_file: str, template: str | None, eos_tokens: list[str],
                     adapter_file: str | None = None, title: str = "") -> str:
    """An Ollama Modelfile: FROM the GGUF (and ADAPTER), the chat template as Ollama's Go
    template, and the stop tokens. An unknown template family gets no TEMPLATE line: Ollama
    then uses the Jinja template embedded in the GGUF."""
    family = chat_family(template)
    lines = [f"# {title}" if title else "# Ollama Modelfile written by tuneforge",
             "# ollama create NAME -f Modelfile && ollama run NAME", f"FROM ./{model_file}"]
    if adapter_file:
        lines.append(f"ADAPTER ./{adapter_file}")
    stops: list[str] = []
    if family:
        _marker, family_stops, go = _OLLAMA_TEMPLATES[family]
        lines.append(f'TEMPLATE """{go}"""')
        stops += family_stops
    else:
        lines.append("# chat template: the one embedded in the GGUF (tokenizer.chat_template)")
    for token in [*stops, *eos_tokens]:
        if token and token not in stops:
            stops.append(token)
    lines += [f"PARAMETER stop {json.dumps(t, ensure_ascii=False)}" for t in stops]
    return "\n".join(lines) + "\n"


def export_spec(*, adapter_dir: Path, adapter_name: str, base_model: str, fmt: str, quant: str,
                output_dir: Path, llama_cpp_dir: str = "", awq_python: str = "",
                calibration_file: str = "", calibration_samples: int = 64,
                reserve_bytes: int = 0) -> dict[str, Any]:
    """The export worker's spec (see export_worker)."""
    return {"adapter_dir": str(adapter_dir), "adapter_name": adapter_name, "base_model": base_model,
            "format": fmt, "quant": quant, "output_dir": str(output_dir), "llama_cpp_dir": llama_cpp_dir,
            "awq_python": awq_python, "calibration_file": calibration_file,
            "calibration_samples": int(calibration_samples), "reserve_bytes": int(reserve_bytes)}  # fmt: skip
