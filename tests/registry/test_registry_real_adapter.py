"""An adapter produced by a real (tiny) LoRA training run, through the whole registry path."""

from __future__ import annotations

import os

import pytest

from tuneforge.services.registry import marker
from tuneforge.services.registry.activation import ActivationManager
from tuneforge.services.registry.activation_records import VllmState
from tuneforge.services.registry.archive import export_adapter, import_archive
from tuneforge.services.registry.vllm import VllmController
from tuneforge.testing.fake_vllm import FakeVllm

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.mark.slow
async def test_trained_tiny_lora_registers_roundtrips_and_hot_loads(catalog, data_root, tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("peft")
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    from tuneforge.testing.tiny_lm import cached_tiny_lm

    torch.set_num_threads(1)
    torch.manual_seed(0)
    base_dir = cached_tiny_lm()
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base_dir),
        LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                   task_type="CAUSAL_LM"),
    )
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    ids = torch.randint(0, 500, (4, 32))
    for _ in range(3):  # a few real optimisation steps: lora_B leaves zero
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    final = data_root / "adapters" / "tiny" / "final"
    model.save_pretrained(final)

    a = catalog.register_from_trainer("tiny", final, base_model=str(base_dir), metrics={"loss": loss.item()})
    assert a.rank == 8 and a.lora_modules == ["k_proj", "o_proj", "q_proj", "v_proj"]

    archive = tmp_path / "tiny.tar.gz"
    archive.write_bytes(b"".join(export_adapter(a)))
    copy = import_archive(catalog, archive, "tiny-copy")
    with torch.no_grad():
        want = model(input_ids=ids[:1]).logits
        reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), copy.path)
        assert torch.allclose(reloaded(input_ids=ids[:1]).logits, want, atol=1e-5)

    with FakeVllm("tiny", root=str(base_dir)) as fake:
        m = ActivationManager(catalog, VllmController("hot", fake.url))
        st = await m.activate("tiny-copy")
        assert st.vllm_state is VllmState.APPLIED and fake.loras == {"tiny-copy@v1": str(copy.path)}
        assert marker.read_active(catalog.adapters_dir) == "tiny-copy"
