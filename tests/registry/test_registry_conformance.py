"""The conformance check's pure parts and its refusals, without vLLM (the check itself runs
against the real vLLM in test_registry_serving_check.py): what counts as template leakage, the
files fingerprint, the thresholds' validation, and the errors CheckAdapter/VerifyServing give
when they cannot run."""

from __future__ import annotations

import pytest

from registry_helpers import make_adapter
from tuneforge.client.errors import FailedPrecondition
from tuneforge.runtime.config import load_config
from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.registry.conformance import files_sha256, leaked


@pytest.mark.parametrize("text, found", [
    ("yes", []),
    ("Sure, the assistant will help.", []),
    ("yes<|im_end|>", []),  # the end-of-turn token at the end is how a reply stops
    ("yes<|im_end|>\n<|im_start|>user\nand you?", ["<|im_end|>", "<|im_start|>"]),
    ("fine.\nuser: what next?", ["user:"]),
    ("[INST] again [/INST]", ["[/INST]", "[INST]"]),
    ("hello </s> more", ["</s>"]),
])
def test_leakage_is_special_tokens_and_role_markers_inside_a_reply(text, found):
    assert leaked(text) == found


def test_the_files_fingerprint_changes_when_a_weight_file_is_swapped(tmp_path):
    a = make_adapter(tmp_path / "a")
    before = files_sha256(a)
    (a / "README.md").write_text("notes")  # not weights or config: no change
    assert files_sha256(a) == before
    weights = a / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\1\0\0\0")
    assert files_sha256(a) != before


@pytest.mark.parametrize("key, value", [("conformance_min_stop_rate", "1.5"), ("conformance_prompts", "0")])
def test_conformance_settings_out_of_range_are_refused_naming_the_setting(tmp_path, key, value):
    with pytest.raises(TuneforgeError) as err:
        load_config(overrides={"data_root": str(tmp_path), key: value}, environ={})
    assert key in str(err.value)


def test_check_and_verify_without_a_vllm_are_failed_precondition(client, tmp_path):
    src = make_adapter(tmp_path / "var" / "incoming" / "bot")
    client.registry.register_adapter(name="bot", path=str(src))
    with pytest.raises(FailedPrecondition, match="VLLM_NOT_CONFIGURED"):
        client.registry.check_adapter(name="bot")
    with pytest.raises(FailedPrecondition, match="ADAPTER_VERSION_NOT_CURRENT.*v7"):
        client.registry.check_adapter(name="bot", version=7)
    with pytest.raises(FailedPrecondition, match="VLLM_NOT_CONFIGURED"):
        client.registry.verify_serving()


async def test_a_load_answered_200_is_not_trusted_until_the_staged_name_answers(catalog, src, fake_vllm, tmp_path):
    """vLLM issue 18372: load_lora_adapter answered 200 for a path holding no adapter. The
    stand-in answers 200 and lists the name but generates nothing: staging proves it does
    not serve, refuses it (ADAPTER_NOT_SERVING) and unloads the staged name."""
    from tuneforge.services.registry.conformance import ConformanceChecker, ConformanceSettings, ConformanceStore
    from tuneforge.services.registry.staging import ServingCheck
    from tuneforge.services.registry.vllm import VllmClient, VllmRejected

    adapter = catalog.import_directory("bot", src("bot"))
    client = VllmClient(fake_vllm.url, timeout=5)
    check = ServingCheck(client, ConformanceChecker(client, ConformanceStore(catalog.store), ConformanceSettings(),
                                                    tmp_path))
    with pytest.raises(VllmRejected) as err:
        await check.stage_and_check(adapter)
    assert err.value.reason == "ADAPTER_NOT_SERVING" and "bot@v1~staging" in str(err.value)
    assert [r.body["lora_name"] for r in fake_vllm.calls("/v1/load_lora_adapter")] == ["bot@v1~staging"]
    assert fake_vllm.loras == {}  # unloaded again
