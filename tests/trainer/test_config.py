"""Config keys, presets, overrides from text, static and model checks, worker commands."""

from __future__ import annotations

import sys

import pytest

from tuneforge.runtime.errors import Code, TuneforgeError
from tuneforge.services.trainer.config import (
    HELP,
    TrainingConfig,
    check,
    load_config_file,
    parse_set_args,
    save_config,
)
from tuneforge.services.trainer.launcher import LaunchSettings, merge_command, train_command
from tuneforge.services.trainer.model_check import check_against_model
from tuneforge.services.trainer.presets import PRESETS, resolve

KEYS = ["lora_rank", "lora_alpha", "lora_dropout", "target_modules", "batch_size",
        "gradient_accumulation_steps", "learning_rate", "epochs", "max_seq_length", "truncation",
        "warmup_ratio", "weight_decay", "gradient_checkpointing", "precision", "quantization",
        "save_steps", "eval_steps", "validation_split", "early_stopping_patience", "seed",
        "packing", "method", "use_dora", "use_rslora", "loraplus_lr_ratio", "preference_beta",
        "desirable_weight", "undesirable_weight",  # KTO (issue 27)
        "report_to", "use_liger_kernel", "attn_implementation",
        "num_generations", "max_completion_length", "rewards",  # GRPO (issue 27)
        "best_checkpoint_metric", "save_total_limit"]  # issue 27

QWEN2_INFO = {"model_type": "qwen2", "max_position_embeddings": 2048,
              "linear_modules": ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj",
                                 "up_proj", "v_proj"],
              "linear_module_paths": ["model.layers.0.self_attn.q_proj"]}


def test_config_has_exactly_the_documented_keys_each_with_help():
    assert list(TrainingConfig().to_dict()) == KEYS
    assert all(HELP[k].strip() for k in KEYS)
    cfg = TrainingConfig()
    assert (cfg.warmup_ratio, cfg.weight_decay, cfg.save_steps) == (0.03, 0.01, 200)
    assert cfg.target_modules == ["q_proj", "k_proj", "v_proj"] and cfg.gradient_checkpointing
    assert (cfg.precision, cfg.quantization) == ("auto", "none")


@pytest.mark.parametrize("name,values", [
    ("quick", (4, 8, 32, 1, 512)), ("standard", (8, 16, 64, 1, 768)),
    ("thorough", (16, 32, 128, 2, 1024)),
])
def test_presets(name, values):
    cfg = resolve(name)
    assert (cfg.lora_rank, cfg.lora_alpha, cfg.gradient_accumulation_steps, cfg.epochs,
            cfg.max_seq_length) == values
    assert (cfg.batch_size, cfg.lora_dropout, cfg.learning_rate) == (1, 0.05, 2e-4)
    assert set(PRESETS) == {"quick", "standard", "thorough"}


def test_overrides_given_as_text_parse_to_field_types():
    cfg = resolve("quick", parse_set_args([
        "lora_rank=16", "learning_rate=1e-4", "packing=yes", "gradient_checkpointing=off",
        "target_modules=q_proj, v_proj", "epochs=0.5", "quantization=4bit", "save_steps=50.0"]))
    assert cfg.lora_rank == 16 and cfg.learning_rate == 1e-4
    assert cfg.packing is True and cfg.gradient_checkpointing is False
    assert cfg.target_modules == ["q_proj", "v_proj"] and cfg.epochs == 0.5
    assert cfg.quantization == "nf4" and cfg.save_steps == 50
    assert resolve(None, {"target_modules": "all-linear"}).target_modules == "all-linear"
    assert resolve("standard", {"target_modules": ["o_proj"]}).target_modules == ["o_proj"]
    # stored defaults sit under the preset, overrides on top
    cfg = resolve("quick", {"seed": 7}, base={"lora_rank": 64, "save_steps": 10})
    assert (cfg.lora_rank, cfg.save_steps, cfg.seed) == (4, 10, 7)


def _fields(exc: TuneforgeError) -> dict[str, str]:
    return {v.field: v.description for v in exc.violations}


def test_unknown_keys_and_unparsable_values_are_field_violations():
    with pytest.raises(TuneforgeError) as info:
        resolve("quick", {"lora_rnak": "8", "batch_size": "two", "packing": "maybe",
                          "epochs": "nan"})
    exc = info.value
    assert exc.code is Code.INVALID_ARGUMENT and exc.reason == "INVALID_TRAINING_CONFIG"
    assert set(_fields(exc)) == {"config.lora_rnak", "config.batch_size", "config.packing",
                                 "config.epochs"}
    assert "lora_rank" in _fields(exc)["config.lora_rnak"]  # lists the known keys
    with pytest.raises(TuneforgeError) as info:
        resolve("huge")
    assert info.value.reason == "UNKNOWN_PRESET"
    with pytest.raises(TuneforgeError):
        parse_set_args(["lora_rank"])


def test_static_checks():
    with pytest.raises(TuneforgeError) as info:
        resolve("quick", {"lora_rank": 0, "learning_rate": "-1e-4", "precision": "fp8",
                          "quantization": "int3", "lora_dropout": 1, "validation_split": 0.9,
                          "max_seq_length": 4, "target_modules": "q_proj;drop table"})
    assert set(_fields(info.value)) == {
        "config.lora_rank", "config.learning_rate", "config.precision", "config.quantization",
        "config.lora_dropout", "config.validation_split", "config.max_seq_length",
        "config.target_modules"}
    assert check(TrainingConfig()) == []


def test_check_against_model_lists_the_models_linear_modules():
    cfg = resolve("quick", {"target_modules": "q_proj,query_key_value", "max_seq_length": 4096})
    found = {v.field: v.description for v in check_against_model(cfg, QWEN2_INFO)}
    assert "query_key_value" in found["config.target_modules"]
    assert "gate_proj" in found["config.target_modules"]  # the list of what the model has
    assert "2048" in found["config.max_seq_length"]
    ok = resolve("quick", {"target_modules": "all-linear"})
    assert check_against_model(ok, QWEN2_INFO) == []
    full_path = resolve("quick", {"target_modules": "self_attn.q_proj"})
    assert check_against_model(full_path, QWEN2_INFO) == []


def test_resolved_config_round_trips_through_json_and_yaml(tmp_path):
    cfg = resolve("thorough", {"target_modules": "all-linear", "packing": True})
    path = save_config(cfg, tmp_path / "training_config.json", dataset="d")
    again = resolve("thorough", load_config_file(path))
    assert again == cfg
    (tmp_path / "c.yaml").write_text("lora_rank: 32\ntarget_modules: [q_proj, o_proj]\n")
    cfg = resolve("quick", load_config_file(tmp_path / "c.yaml"))
    assert cfg.lora_rank == 32 and cfg.target_modules == ["q_proj", "o_proj"]
    assert TrainingConfig().to_strings()["target_modules"] == "q_proj,k_proj,v_proj"


def test_worker_commands_plain_under_torchrun_and_under_accelerate_launch():
    module = "tuneforge.services.trainer.train_worker"
    assert train_command("/s.json") == [sys.executable, "-m", module, "--spec", "/s.json"]
    assert train_command("/s.json", LaunchSettings(python="/venv/bin/python", num_processes=4)) == [
        "/venv/bin/python", "-m", "tuneforge.runtime.dist_launch", "--nnodes", "1", "--nproc-per-node", "4",
        "--rdzv", "local", "--shutdown-timeout", "300", "--", "-m", module, "--spec", "/s.json"]
    assert train_command("/s.json", LaunchSettings(python="py", num_processes=2,
                                                   accelerate_config="/etc/fsdp.yaml")) == [
        "py", "-m", "accelerate.commands.launch", "--num_processes", "2", "--config_file",
        "/etc/fsdp.yaml", "-m", module, "--spec", "/s.json"]
    assert merge_command("/m.json", python="py") == [
        "py", "-m", "tuneforge.services.trainer.merge_worker", "--spec", "/m.json"]
    with pytest.raises(TuneforgeError):
        train_command("/s.json", LaunchSettings(num_processes=0))


def test_accelerate_launch_accepts_the_command_line():
    """The accelerate CLI really parses our flags (argument parsing only, nothing launched)."""
    from accelerate.commands.launch import launch_command_parser

    cmd = train_command("/s.json", LaunchSettings(python="py", num_processes=2,
                                                  accelerate_config="/c.yaml"))
    args = launch_command_parser().parse_args(cmd[3:])
    assert args.num_processes == 2 and args.config_file == "/c.yaml"
    assert args.module and args.training_script == "tuneforge.services.trainer.train_worker"
    assert args.training_script_args == ["--spec", "/s.json"]


def test_packing_without_flash_attention_moves_the_batch_into_accumulation():
    from tuneforge.services.trainer.train_worker import packed_batching, resolve_precision

    cfg = resolve("quick", {"packing": True, "batch_size": 8})
    assert packed_batching(cfg, "sdpa") == (1, 32 * 8)
    assert packed_batching(cfg, "flash_attention_2") == (8, 32)
    assert packed_batching(resolve("quick", {"batch_size": 8}), "sdpa") == (8, 32)
    auto = resolve("quick")
    assert resolve_precision(auto, cuda=False, bf16_ok=False) == "fp32"
    assert resolve_precision(auto, cuda=True, bf16_ok=True) == "bf16"
    assert resolve_precision(auto, cuda=True, bf16_ok=False) == "fp16"
    assert resolve_precision(resolve("quick", {"precision": "fp16"}), False, False) == "fp32"


def test_method_and_variant_options_parse_from_text():
    cfg = resolve("quick", parse_set_args([
        "method=DPO", "use_dora=true", "use_rslora=1", "loraplus_lr_ratio=16",
        "report_to=TensorBoard", "attn_implementation=flash_attention_2"]))
    assert (cfg.method, cfg.use_dora, cfg.use_rslora, cfg.loraplus_lr_ratio) == ("dpo", True,
                                                                                 True, 16.0)
    assert (cfg.report_to, cfg.attn_implementation) == ("tensorboard", "flash_attention_2")
    assert resolve("quick", {"method": "qlora"}).method == "lora"


def test_unknown_method_report_to_and_attention_are_field_violations():
    with pytest.raises(TuneforgeError) as info:
        resolve("quick", {"method": "ppo", "report_to": "wandb", "attn_implementation": "xformers",
                          "preference_beta": 0, "loraplus_lr_ratio": -1})
    assert set(_fields(info.value)) == {"config.method", "config.report_to",
                                        "config.attn_implementation", "config.preference_beta",
                                        "config.loraplus_lr_ratio"}


def test_full_fine_tuning_refuses_adapter_options_and_4_bit():
    with pytest.raises(TuneforgeError) as info:
        resolve("quick", {"method": "full", "use_dora": True, "quantization": "nf4",
                          "loraplus_lr_ratio": 16})
    assert set(_fields(info.value)) == {"config.use_dora", "config.quantization",
                                        "config.loraplus_lr_ratio"}


def test_preference_methods_refuse_packing():
    with pytest.raises(TuneforgeError) as info:
        resolve("quick", {"method": "orpo", "packing": True})
    assert set(_fields(info.value)) == {"config.packing"}


def test_kto_weights_must_be_positive_and_kto_needs_two_answers_per_batch():
    bad = {v.field: v.description for v in check(TrainingConfig(
        method="kto", batch_size=1, desirable_weight=0.0, undesirable_weight=-1.0))}
    assert set(bad) == {"config.batch_size", "config.desirable_weight", "config.undesirable_weight"}
    assert "KL" in bad["config.batch_size"]
    assert check(TrainingConfig(method="kto", batch_size=2, undesirable_weight=1.5)) == []
