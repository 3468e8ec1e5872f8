"""GGUF conversion with llama.cpp's own converters (runs inside the export worker; imports torch).

We do not rewrite conversion: ``convert_hf_to_gguf.py`` and ``convert_lora_to_gguf.py`` with
their ``conversion/`` package and ``gguf-py`` (the gguf writer) come from the llama.cpp that
llama-cpp-python vendors, unpacked once by ``scripts/setup_export_env.sh`` into a tools
directory (config ``export_llama_cpp_dir``). They run in this process, so two things can be
adjusted without patching files:

* **Pre-tokenizer**: llama.cpp recognises a BPE pre-tokenizer by a hash of the token ids of a
  probe text, which a vocabulary it has never seen (a locally trained tokenizer) never matches.
  Then we read the pre-tokenizer from ``tokenizer.json`` itself and map the regexes llama.cpp
  implements (GPT-2 byte level, Qwen2, Llama 3); anything else stays an error.
* **k-quants** (``q4_k_m``): the converter writes f16/q8_0 only; k-quants come from llama.cpp's
  quantizer (``llama_model_quantize`` through llama-cpp-python) applied to the f16 file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import runpy
import sys
from pathlib import Path

from tuneforge.runtime.errors import failed_precondition

# The Split regexes of tokenizer.json pre-tokenizers that llama.cpp implements, by its name.
_QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
_LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_SPLIT_REGEXES = {_QWEN2_REGEX: "qwen2", _LLAMA3_REGEX: "llama-bpe"}
K_QUANTS = {"q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M", "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
            "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K"}


def pre_tokenizer_from_json(model_dir: Path) -> str | None:
    """llama.cpp's name for the pre-tokenizer declared in ``tokenizer.json``, or None."""
    path = Path(model_dir) / "tokenizer.json"
    if not path.is_file():
        return None
    pre = json.loads(path.read_text(encoding="utf-8")).get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers") if pre.get("type") == "Sequence" else [pre]
    kinds = [p.get("type") for p in parts]
    if kinds == ["ByteLevel"] and parts[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Split", "ByteLevel"] and not parts[1].get("use_regex", True):
        regex = (parts[0].get("pattern") or {}).get("Regex")
        return _SPLIT_REGEXES.get(regex)
    return None


@contextlib.contextmanager
def converter_on_path(tools_dir: Path):
    """Make ``convert_*_to_gguf``, ``conversion`` and the matching ``gguf-py`` importable."""
    tools_dir = Path(tools_dir)
    if not (tools_dir / "convert_hf_to_gguf.py").is_file():
        raise failed_precondition(
            "EXPORT_TOOLS_MISSING",
            f"llama.cpp's converter is not in {tools_dir}; run scripts/setup_export_env.sh "
            "(or set export_llama_cpp_dir)", tools_dir=str(tools_dir))
    added = [str(tools_dir), str(tools_dir / "gguf-py")]
    sys.path[:0] = added
    try:
        yield
    finally:
        for entry in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(entry)


def _patch_pre_tokenizer(model_dir: Path) -> None:
    """Fall back to tokenizer.json when llama.cpp does not know the vocabulary's hash."""
    from conversion.base import TextModel

    original = TextModel.get_vocab_base_pre
    if getattr(original, "_tuneforge", False):
        original = original.__wrapped__

    def get_vocab_base_pre(self, tokenizer) -> str:
        try:
            return original(self, tokenizer)
        except NotImplementedError:
            name = pre_tokenizer_from_json(model_dir)
            if name is None:
                raise failed_precondition(
                    "UNSUPPORTED_TOKENIZER",
                    "llama.cpp does not recognise this model's BPE pre-tokenizer (neither its hash "
                    "nor its tokenizer.json regex); it cannot be converted to GGUF") from None
            logging.getLogger("tuneforge.export").info("pre-tokenizer from tokenizer.json: %s", name)
            return name

    get_vocab_base_pre._tuneforge = True  # type: ignore[attr-defined]
    get_vocab_base_pre.__wrapped__ = original  # type: ignore[attr-defined]
    TextModel.get_vocab_base_pre = get_vocab_base_pre


def _run_script(tools_dir: Path, script: str, argv: list[str]) -> None:
    """Run one of llama.cpp's converter scripts as ``__main__`` in this process (so the
    pre-tokenizer fallback applies); its ``sys.exit(1)`` becomes an error."""
    saved = sys.argv
    sys.argv = [script, *argv]
    try:
        runpy.run_path(str(Path(tools_dir) / script), run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise failed_precondition("GGUF_CONVERSION_FAILED",
                                      f"llama.cpp's {script} refused the model; see the job log for its message") from None
    finally:
        sys.argv = saved


def convert_model(model_dir: Path, out_file: Path, outtype: str, tools_dir: Path,
                  model_name: str | None = None) -> Path:
    """A HF model directory → one GGUF file (``outtype`` f32, f16, bf16 or q8_0)."""
    with converter_on_path(tools_dir):
        _patch_pre_tokenizer(Path(model_dir))
        argv = [str(model_dir), "--outfile", str(out_file), "--outtype", outtype]
        if model_name:
            argv += ["--model-name", model_name]
        _run_script(tools_dir, "convert_hf_to_gguf.py", argv)
    return Path(out_file)


def convert_lora(adapter_dir: Path, base_dir: Path, out_file: Path, outtype: str, tools_dir: Path) -> Path:
    """A PEFT LoRA adapter → a GGUF adapter (llama.cpp ``--lora``, Ollama ``ADAPTER``)."""
    with converter_on_path(tools_dir):
        _patch_pre_tokenizer(Path(base_dir))
        argv = [str(adapter_dir), "--base", str(base_dir), "--outfile", str(out_file), "--outtype", outtype]
        _run_script(tools_dir, "convert_lora_to_gguf.py", argv)
    return Path(out_file)


def quantize(src: Path, dst: Path, quant: str, threads: int = 0) -> Path:
    """llama.cpp's quantizer: an f16/f32 GGUF → a k-quant GGUF (``q4_k_m``, ``q5_k_m``, ``q6_k``).

    Tensors whose rows do not divide into k-quant blocks (256) get llama.cpp's fallback type,
    as llama-quantize does.
    """
    try:
        import llama_cpp
    except ImportError:
        raise failed_precondition("EXPORT_TOOLS_MISSING",
                                  f"{quant} needs llama-cpp-python (scripts/setup_export_env.sh)") from None
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, K_QUANTS[quant])
    if threads:
        params.nthread = threads
    code = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if code != 0:
        raise failed_precondition("GGUF_QUANTIZATION_FAILED", f"llama.cpp could not quantize to {quant} (code {code})")
    return Path(dst)
