"""The export worker's checks, stop and failures (each leaves nothing behind), and the pure
rules in export.py. Conversions themselves: test_export_gguf.py, test_export_awq.py."""

from __future__ import annotations

import json
import shutil
import signal

import pytest
from export_helpers import make_adapter, run_export
from trainer_helpers import of, read_until, start_worker, write_spec

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.trainer import export as ex
from tuneforge.services.trainer import export_worker
from tuneforge.services.trainer.gguf_export import pre_tokenizer_from_json
from tuneforge.testing.tiny_archs import cached_tiny_arch


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    return make_adapter(cached_tiny_arch("qwen2"), tmp_path_factory.mktemp("adapter") / "adapter")


def visible(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".spec.json"))


def error_of(events):
    return of(events, "error")[-1]["reason"]


def test_export_of_a_directory_without_an_adapter_is_adapter_not_found(tmp_path):
    code, events, _ = run_export(tmp_path, tmp_path / "nothing-here", "gguf")
    assert code == 1 and error_of(events) == "ADAPTER_NOT_FOUND"


def test_export_of_an_adapter_whose_base_is_not_available_offline_fails_clearly(adapter, tmp_path):
    code, events, _ = run_export(tmp_path, adapter, "gguf", base_model="nobody/not-cached-model")
    assert code == 1 and error_of(events) == "BASE_MODEL_NOT_AVAILABLE"
    assert "nobody/not-cached-model" in of(events, "error")[-1]["message"]


def test_export_to_gguf_names_an_unsupported_architecture(adapter, tmp_path):
    base = tmp_path / "gpt2-like"
    shutil.copytree(cached_tiny_arch("qwen2"), base)
    cfg = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**cfg, "architectures": ["GPT2LMHeadModel"]}))
    code, events, _ = run_export(tmp_path, adapter, "gguf", base_model=str(base))
    assert code == 1 and error_of(events) == "UNSUPPORTED_ARCHITECTURE"
    assert "GPT2LMHeadModel" in of(events, "error")[-1]["message"]


def test_export_without_enough_free_disk_is_disk_full_before_any_work(adapter, tmp_path):
    code, events, _ = run_export(tmp_path, adapter, "gguf", reserve_bytes=10**18)
    assert code == 1 and error_of(events) == "DISK_FULL"
    assert [e.get("phase") for e in of(events, "progress")] == ["checking"]
    assert visible(tmp_path) == []


def test_export_into_a_non_empty_directory_is_refused(adapter, tmp_path):
    out = tmp_path / "tiny-gguf-f16"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, events, _ = run_export(tmp_path, adapter, "gguf", "f16")
    assert code == 1 and error_of(events) == "OUTPUT_EXISTS"
    assert (out / "keep.txt").read_text() == "mine"


def test_export_without_llama_cpp_converters_says_how_to_install_them(adapter, tmp_path):
    code, events, _ = run_export(tmp_path, adapter, "gguf", "f16", llama_cpp_dir=str(tmp_path / "none"))
    assert code == 1 and error_of(events) == "EXPORT_TOOLS_MISSING"
    assert "setup_export_env.sh" in of(events, "error")[-1]["message"]
    assert visible(tmp_path) == []


def test_export_stopped_while_merging_ends_cleanly_and_leaves_nothing(adapter, tmp_path):
    spec = ex.export_spec(adapter_dir=adapter, adapter_name="tiny", base_model="", fmt="gguf", quant="f16",
                          output_dir=tmp_path / "out", llama_cpp_dir=str(ex.DEFAULT_LLAMA_CPP_DIR))
    proc = start_worker("tuneforge.services.trainer.export_worker", write_spec(tmp_path, "stop", **spec))
    read_until(proc, lambda e: e.get("phase") == "loading_model")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert visible(tmp_path) == []


def test_merged_export_is_a_loadable_model_directory(adapter, tmp_path):
    code, events, out = run_export(tmp_path, adapter, "merged")
    assert code == 0, out
    result = of(events, "result")[-1]["data"]
    assert result["quant"] == "auto" and result["primary_file"] == "model.safetensors"
    assert {"config.json", "tokenizer.json", "SHA256SUMS"} <= set(result["files"])


def test_export_reports_a_bad_format_before_a_taken_output_directory(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(TuneforgeError) as info:
        export_worker.plan({"adapter_dir": str(adapter), "format": "onnx", "output_dir": str(tmp_path / "out")})
    assert info.value.violations[0].field == "format"


# ----------------------------------------------------------------------------- pure rules
@pytest.mark.parametrize(("fmt", "quant", "expected"), [
    ("gguf", "", ("gguf", "f16")), ("GGUF", "Q4_K_M", ("gguf", "q4_k_m")), ("awq", "", ("awq", "w4a16")),
    ("gguf-lora", "q8_0", ("gguf-lora", "q8_0")), ("merged", "", ("merged", "auto")),
])  # fmt: skip
def test_check_format_normalises_format_and_default_quant(fmt, quant, expected):
    assert ex.check_format(fmt, quant) == expected


@pytest.mark.parametrize(("fmt", "quant", "field"), [("onnx", "", "format"), ("gguf", "w4a16", "quant"),
                                                      ("gguf-lora", "q4_k_m", "quant")])
def test_check_format_names_the_bad_field(fmt, quant, field):
    with pytest.raises(TuneforgeError) as info:
        ex.check_format(fmt, quant)
    assert info.value.violations[0].field == field


def test_strip_generation_tags_keeps_the_rendered_text():
    template = "{% for m in messages %}{%- generation -%}{{ m['content'] }}{% endgeneration %}{% endfor %}"
    assert ex.strip_generation_tags(template) == "{% for m in messages %}{{ m['content'] }}{% endfor %}"


def test_modelfile_for_a_llama3_template_uses_eot_as_stop():
    text = ex.ollama_modelfile("m.gguf", "{{ '<|start_header_id|>' }}", ["<|eot_id|>", "<|end_of_text|>"])
    assert "<|start_header_id|>{{ .Role }}<|end_header_id|>" in text
    assert text.count("PARAMETER stop") == 2 and 'PARAMETER stop "<|end_of_text|>"' in text


def test_modelfile_for_an_unknown_template_relies_on_the_embedded_one():
    text = ex.ollama_modelfile("m.gguf", "{{ messages }}", ["</s>"])
    assert "TEMPLATE" not in text and 'PARAMETER stop "</s>"' in text


def test_pre_tokenizer_of_a_qwen2_style_tokenizer_json_is_qwen2(tmp_path):
    from tuneforge.services.trainer.gguf_export import _QWEN2_REGEX

    pre = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": _QWEN2_REGEX}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}
    (tmp_path / "tokenizer.json").write_text(json.dumps({"pre_tokenizer": pre}))
    assert pre_tokenizer_from_json(tmp_path) == "qwen2"
    (tmp_path / "tokenizer.json").write_text(json.dumps({"pre_tokenizer": {"type": "Whitespace"}}))
    assert pre_tokenizer_from_json(tmp_path) is None
