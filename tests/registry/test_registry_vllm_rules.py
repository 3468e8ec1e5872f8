"""vLLM 0.32's own adapter rules, checked at activation before vLLM is touched (registration
still accepts the adapters: any valid PEFT LoRA adapter can be merged or exported)."""

from __future__ import annotations

import pytest

from registry_helpers import DROP, make_adapter, write_safetensors
from tuneforge.runtime.errors import Code, TuneforgeError
from tuneforge.services.registry import marker
from tuneforge.services.registry.activation import ActivationManager
from tuneforge.services.registry.peft_files import lora_modules, read_safetensors_header
from tuneforge.services.registry.vllm import VllmController
from tuneforge.services.registry.vllm_rules import supported_modules


@pytest.mark.parametrize("extra, field", [
    ({"use_dora": True}, "adapter_config.json.use_dora"),
    ({"modules_to_save": ["lm_head"]}, "adapter_config.json.modules_to_save"),
    ({"lora_bias": True}, "adapter_config.json.lora_bias"),
    ({"bias": "all"}, "adapter_config.json.bias"),
    ({"init_lora_weights": "pissa"}, "adapter_config.json.init_lora_weights"),
    ({"init_lora_weights": "olora"}, "adapter_config.json.init_lora_weights"),
    ({"init_lora_weights": "loftq"}, "adapter_config.json.init_lora_weights"),
    ({"init_lora_weights": "corda"}, "adapter_config.json.init_lora_weights"),
    ({"lora_alpha": DROP}, "adapter_config.json.lora_alpha"),
    ({"rank_pattern": {"v_proj": 32}}, "adapter_config.json.rank_pattern"),
    ({"layer_replication": [[0, 1]]}, "adapter_config.json.layer_replication"),
])
async def test_activation_refuses_what_vllm_refuses_naming_the_field(catalog, fake_vllm, tmp_path, extra, field):
    catalog.import_directory("x", make_adapter(tmp_path / "x", extra_config=extra))
    m = ActivationManager(catalog, VllmController("hot", fake_vllm.url, request_timeout=2.0))
    with pytest.raises(TuneforgeError) as e:
        await m.activate("x")
    assert e.value.code is Code.FAILED_PRECONDITION and e.value.reason == "ADAPTER_INCOMPATIBLE"
    assert [v.field for v in e.value.violations] == [field], e.value
    assert fake_vllm.calls("/v1/load_lora_adapter") == [] and marker.read_active(catalog.adapters_dir) is None


@pytest.mark.parametrize("extra", [
    {"init_lora_weights": "gaussian"}, {"init_lora_weights": "eva"}, {"init_lora_weights": False},
    {"modules_to_save": ["score"]}, {"use_rslora": True},
])
async def test_inits_and_options_vllm_serves_are_accepted(catalog, fake_vllm, tmp_path, extra):
    """vLLM 0.32 serves EVA-initialised adapters (peft_helper.py: the init only sets the
    starting weights), unlike PiSSA/OLoRA/LoftQ/CorDA."""
    catalog.import_directory("x", make_adapter(tmp_path / "x", extra_config=extra))
    m = ActivationManager(catalog, VllmController("hot", fake_vllm.url, request_timeout=2.0))
    assert (await m.activate("x")).served_name == "x@v1"


def test_a_max_lora_rank_vllm_does_not_accept_is_refused():
    with pytest.raises(TuneforgeError) as e:
        VllmController("hot", "http://127.0.0.1:1", max_lora_rank=24)
    assert e.value.code is Code.INVALID_ARGUMENT and e.value.violations[0].field == "vllm_max_lora_rank"
    assert "320" in e.value.violations[0].description
    VllmController("hot", "http://127.0.0.1:1", max_lora_rank=320)


def test_embedding_lora_tensors_without_weight_suffix_are_seen(tmp_path):
    """PEFT names embedding LoRA tensors lora_embedding_A/B, without ``.weight``."""
    f = tmp_path / "adapter_model.safetensors"
    write_safetensors(f, {
        "base_model.model.model.embed_tokens.lora_embedding_A": ([8, 100], "F32"),
        "base_model.model.model.embed_tokens.lora_embedding_B": ([16, 8], "F32"),
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": ([8, 16], "F32"),
    })
    assert lora_modules(read_safetensors_header(f)) == ["embed_tokens", "q_proj"]


def _checkpoint(path, arch, tensors):
    path.mkdir(parents=True)
    (path / "config.json").write_text('{"architectures": ["%s"]}' % arch)
    write_safetensors(path / "model.safetensors", tensors)
    return path


def test_supported_modules_come_from_the_base_checkpoints_linear_layers(tmp_path):
    layer = "model.layers.0"
    tensors = {
        "model.embed_tokens.weight": ([100, 16], "F32"), "lm_head.weight": ([100, 16], "F32"),
        f"{layer}.self_attn.q_proj.weight": ([16, 16], "F32"), f"{layer}.self_attn.q_proj.bias": ([16], "F32"),
        f"{layer}.mlp.down_proj.weight": ([16, 32], "F32"), f"{layer}.input_layernorm.weight": ([16], "F32"),
    }
    qwen = _checkpoint(tmp_path / "qwen", "Qwen2ForCausalLM", tensors)
    assert supported_modules(qwen) == {"q_proj", "down_proj"}
    # an architecture whose vLLM class declares embedding_modules also serves embedding LoRAs
    exaone = _checkpoint(tmp_path / "exaone", "Exaone4ForCausalLM", tensors)
    assert supported_modules(exaone) == {"q_proj", "down_proj", "embed_tokens", "lm_head"}
    assert supported_modules(tmp_path / "absent") is None


async def test_modules_the_served_base_lacks_are_refused_before_vllm(catalog, tmp_path):
    from tuneforge.testing.fake_vllm import FakeVllm

    base = _checkpoint(tmp_path / "base", "Qwen2ForCausalLM", {
        "model.layers.0.self_attn.q_proj.weight": ([16, 16], "F32"),
        "model.layers.0.self_attn.v_proj.weight": ([16, 16], "F32"),
    })
    catalog.import_directory("mlp", make_adapter(tmp_path / "mlp", base=str(base), modules=("q_proj", "gate_proj")))
    with FakeVllm(str(base), root=str(base)) as fake:
        m = ActivationManager(catalog, VllmController("hot", fake.url, request_timeout=2.0))
        with pytest.raises(TuneforgeError) as e:
            await m.activate("mlp")
        assert [v.field for v in e.value.violations] == ["target_modules"] and "gate_proj" in str(e.value)
        assert fake.calls("/v1/load_lora_adapter") == []
