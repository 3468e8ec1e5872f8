"""GRPO with rewards declared as data (issue 27): each built-in reward on hand-made replies, the
HTTP endpoint (a real local server) with its timeout and size cap, the checks that name the
field, and a GRPO job through the gRPC API on the tiny model that streams its rewards and
registers an adapter PEFT loads."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from trainer_helpers import FAST_TYPED, make_dataset
from tuneforge.client import InvalidArgument, job_result
from tuneforge.client.fields import parse_assignments
from tuneforge.common.v1 import common_pb2
from tuneforge.trainer.v1 import trainer_pb2

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.trainer import config, config_pb, grpo_data, rewards

Job = common_pb2.Job
END = ["<|im_end|>"]
LEAKS = rewards.TEMPLATE_MARKERS


# ---- the built-in rewards ----------------------------------------------------------------------
def test_format_reward_prefers_a_reply_that_ends_its_turn_over_one_leaking_a_new_turn():
    clean = rewards.format_score("fine, thanks<|im_end|>", END, LEAKS)
    leaking = rewards.format_score("fine<|im_start|>user\nand you?<|im_end|>", END, LEAKS)
    unended = rewards.format_score("fine, thanks", END, LEAKS)
    assert (clean, leaking, unended) == (1.0, 0.5, 0.5)


def test_format_reward_reads_the_raw_token_ids_with_the_models_own_end_of_turn(tiny_lm_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_lm_dir)
    fn = rewards.functions([{"kind": "format"}], tok)[0]
    ids = [tok("fine, thanks", add_special_tokens=False)["input_ids"]
           + tok.convert_tokens_to_ids(["<|im_end|>"]),
           tok("fine", add_special_tokens=False)["input_ids"]
           + tok.convert_tokens_to_ids(["<|im_start|>"])]
    completions = [[{"role": "assistant", "content": "fine, thanks"}],
                   [{"role": "assistant", "content": "fine"}]]  # what TRL decodes: specials gone
    assert fn.__name__ == "format"
    assert fn(prompts=[[], []], completions=completions, completion_ids=ids) == [1.0, 0.0]


def test_length_reward_is_one_inside_the_band_and_falls_off_linearly_outside():
    assert rewards.length_score("x" * 20, 10, 40) == 1.0
    assert rewards.length_score("x" * 5, 10, 40) == 0.5
    assert rewards.length_score("x" * 60, 10, 40) == 0.5
    assert rewards.length_score("x" * 200, 10, 40) == 0.0
    assert rewards.length_score("  " + "x" * 10 + "  ", 10, None) == 1.0  # visible characters


def test_chrf_reward_ranks_the_reply_closer_to_the_owners_real_one_higher():
    fn = rewards.functions([{"kind": "chrf"}], _FakeTokenizer())[0]
    reference = "sure, see you at eight at the station"
    scores = fn(prompts=[[]] * 3, completions=["sure, see you at eight at the station",
                                               "ok see you at eight", "I cannot help with that"],
                reference=[reference] * 3)
    assert scores[0] == 1.0 and scores[0] > scores[1] > scores[2]


@pytest.mark.parametrize("must_not_match,expected", [(False, [1.0, 0.0]), (True, [0.0, 1.0])])
def test_regex_reward_scores_a_match_or_its_absence(must_not_match, expected):
    spec = {"kind": "regex", "pattern": r"\bcheers\b", "must_not_match": must_not_match}
    fn = rewards.functions([spec], _FakeTokenizer())[0]
    assert fn(prompts=[[], []], completions=["ok, cheers", "ok"]) == expected


def test_reward_names_are_the_kind_with_an_index_when_a_kind_repeats_or_the_given_name():
    specs = [{"kind": "regex", "pattern": "a"}, {"kind": "regex", "pattern": "b"},
             {"kind": "format"}, {"kind": "length", "max_chars": 9, "name": "short"}]
    assert rewards.names(specs) == ["regex_0", "regex_1", "format", "short"]


class _FakeTokenizer:
    """Enough of a tokenizer for the rewards that read text only (no end-of-turn lookup)."""
    all_special_tokens: list[str] = []
    eos_token_id = 0
    chat_template = None

    def decode(self, ids, skip_special_tokens=False):
        return ""

    def apply_chat_template(self, messages, tokenize=False, **kw):
        return "".join(m["content"] for m in messages)

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": []}


# ---- the HTTP reward endpoint ------------------------------------------------------------------
@contextmanager
def _endpoint(answer):
    """A real HTTP server on 127.0.0.1:0; ``answer(payload)`` → (status, body bytes, delay s)."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(payload)
            status, body, delay = answer(payload)
            if delay:
                time.sleep(delay)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/score", seen
    finally:
        server.shutdown()
        server.server_close()


def test_http_reward_posts_prompts_completions_and_references_and_returns_its_rewards():
    def answer(payload):
        return 200, json.dumps({"rewards": [len(c) / 10 for c in payload["completions"]]}).encode(), 0

    with _endpoint(answer) as (url, seen):
        fn = rewards.functions([{"kind": "http", "url": url}], _FakeTokenizer())[0]
        got = fn(prompts=[[{"role": "user", "content": "hi"}]] * 2,
                 completions=[[{"role": "assistant", "content": "hello"}],
                              [{"role": "assistant", "content": "hey"}]],
                 reference=["hi there", "hi there"])
    assert got == [0.5, 0.3]
    assert seen == [{"prompts": [[{"role": "user", "content": "hi"}]] * 2,
                     "completions": ["hello", "hey"], "references": ["hi there", "hi there"]}]


def test_http_reward_slower_than_its_timeout_fails_saying_so():
    with _endpoint(lambda p: (200, b'{"rewards": [1]}', 3)) as (url, _):
        started = time.monotonic()
        with pytest.raises(TuneforgeError) as info:
            rewards.http_rewards(url, [[]], ["x"], [None], timeout=0.5)
    assert time.monotonic() - started < 2.5
    assert info.value.reason == "REWARD_ENDPOINT_FAILED" and "timeout_seconds=0.5" in info.value.message


def test_http_reward_answer_over_the_size_cap_is_refused_unread():
    body = json.dumps({"rewards": [1.0], "padding": "x" * 5000}).encode()
    with _endpoint(lambda p: (200, body, 0)) as (url, _):
        with pytest.raises(TuneforgeError) as info:
            rewards.http_rewards(url, [[]], ["x"], [None], max_bytes=1000)
    assert "max_response_bytes=1000" in info.value.message


@pytest.mark.parametrize("body,why", [
    (b'{"rewards": [1, 2]}', "expected 1 rewards, got 2"),
    (b'{"rewards": ["high"]}', "finite number"),
    (b"<html>", "not JSON"),
])
def test_http_reward_answer_of_the_wrong_shape_fails_the_step_with_the_reason(body, why):
    with _endpoint(lambda p: (200, body, 0)) as (url, _):
        with pytest.raises(TuneforgeError) as info:
            rewards.http_rewards(url, [[]], ["x"], [None])
    assert why in info.value.message


# ---- the declared config and its checks --------------------------------------------------------
GRPO = {"method": "grpo", "batch_size": 2, "gradient_accumulation_steps": 1, "num_generations": 2}


@pytest.mark.parametrize("bad,field", [
    ({"kind": "regex", "pattern": "(unclosed"}, "config.rewards[1].pattern"),
    ({"kind": "format", "weight": -1}, "config.rewards[1].weight"),
    ({"kind": "judge"}, "config.rewards[1].kind"),
    ({"kind": "http", "url": "file:///etc/passwd"}, "config.rewards[1].url"),
    ({"kind": "http", "url": "http://127.0.0.1:9", "timeout_seconds": 0}, "config.rewards[1].timeout_seconds"),
    ({"kind": "length"}, "config.rewards[1].min_chars"),
    ({"kind": "length", "min_chars": 50, "max_chars": 10}, "config.rewards[1].max_chars"),
])
def test_a_bad_reward_is_refused_naming_its_field(bad, field):
    with pytest.raises(TuneforgeError) as info:
        config.from_dict({**GRPO, "rewards": [{"kind": "format"}, bad]})
    assert info.value.reason == "INVALID_TRAINING_CONFIG"
    assert field in {v.field for v in info.value.violations}


def test_grpo_without_rewards_or_with_partial_groups_is_refused():
    with pytest.raises(TuneforgeError) as info:
        config.from_dict({**GRPO, "num_generations": 3})
    fields = {v.field for v in info.value.violations}
    assert fields == {"config.rewards", "config.num_generations"}


def test_rewards_round_trip_through_the_message_and_the_cli_set_syntax():
    text = '[{"kind": "format"}, {"kind": "regex", "pattern": "x", "weight": 2, "must_not_match": true}]'
    msg, names = parse_assignments(trainer_pb2.TrainingConfig, ["method=grpo", f"rewards={text}"])
    assert names == ["method", "rewards"] and msg.rewards[1].kind == trainer_pb2.RewardFunction.KIND_REGEX
    cfg = config.from_dict({**GRPO, **config_pb.overrides(msg)})
    assert cfg.rewards == [{"kind": "format"},
                           {"kind": "regex", "weight": 2.0, "pattern": "x", "must_not_match": True}]
    assert config_pb.config_pb(cfg).rewards == msg.rewards


def test_grpo_rows_take_the_last_assistant_turn_as_the_reference_and_what_precedes_as_the_prompt():
    chat = [{"role": "system", "content": "s"}, {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"},
            {"role": "assistant", "content": "d"}]
    found, skipped = grpo_data.rows([chat, [{"role": "assistant", "content": "alone"}]])
    assert found == [{"prompt": chat[:4], "reference": "d"}] and skipped == [1]


# ---- a GRPO job through the service --------------------------------------------------------------
@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")


def test_grpo_job_streams_its_reward_and_each_component_and_registers_an_adapter_peft_loads(
        client, tiny_lm_dir, tmp_path):
    make_dataset(client, tmp_path, "chats", 2)
    reward_list = [{"kind": "format"}, {"kind": "length", "min_chars": 1, "max_chars": 40, "weight": 0.5},
                   {"kind": "chrf", "weight": 2.0}, {"kind": "regex", "pattern": r"\d", "must_not_match": True}]
    job = client.trainer.create_training_job(
        dataset="chats", base_model=str(tiny_lm_dir), preset="quick", adapter_name="polite",
        config={**FAST_TYPED, "method": "grpo", "batch_size": 2, "num_generations": 2,
                "max_completion_length": 8, "rewards": reward_list}, timeout=120)
    done = client.wait_job(job.id)
    assert done.state == Job.STATE_SUCCEEDED, done.error_message
    result = job_result(done)
    assert result.method == trainer_pb2.TrainingConfig.METHOD_GRPO and result.global_step == 2
    assert set(result.reward_components) == {"format", "length", "chrf", "regex"}
    assert result.HasField("reward") and len(result.config.rewards) == 4
    metrics = client.jobs.list_job_metrics(id=job.id).metrics
    assert {"reward", "reward/format", "reward/length", "reward/chrf", "reward/regex"} <= set(metrics[-1].extra)
    assert result.registration.state == trainer_pb2.Registration.STATE_REGISTERED, result.registration.message

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_lm_dir),
                                      result.adapter_dir)
    assert any("lora_" in name for name, _ in model.named_parameters())
    _check_grpo_token_count(client, job.id, result, metrics, tiny_lm_dir)


def _check_grpo_token_count(client, job_id, result, metrics, tiny_lm_dir) -> None:
    """Issue 27 item 5, on the same run: GRPO's real tokens are each completion's prompt and
    what it sampled, in Progress.tokens_per_second on the wire and in the result."""
    from trainer_helpers import learnable_records
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_lm_dir)
    prompts = sum(len(tok.apply_chat_template(r["messages"][:-1], tokenize=True, add_generation_prompt=True))
                  for r in learnable_records(2))  # make_dataset's two chats, one epoch
    sampled = sum(2 * m.extra["completion_mean_length"] for m in metrics)  # 2 completions a step
    assert len(metrics) == 2 and result.num_tokens == 2 * prompts + round(sampled)  # 2 generations
    assert metrics[-1].extra["num_tokens"] == result.num_tokens and result.tokens_per_second > 0
    steps = [e.progress for e in client.watch_job(job_id) if e.WhichOneof("kind") == "progress"
             and e.progress.phase == "training" and e.progress.step]
    assert steps and all(p.tokens_per_second > 0 for p in steps)


def test_grpo_job_with_a_bad_regex_is_refused_naming_the_reward_field(client, tiny_lm_dir, tmp_path):
    make_dataset(client, tmp_path, "chats", 2)
    with pytest.raises(InvalidArgument) as info:
        client.trainer.create_training_job(
            dataset="chats", base_model=str(tiny_lm_dir), adapter_name="polite",
            config={**FAST_TYPED, **GRPO, "rewards": [{"kind": "format"},
                                                       {"kind": "regex", "pattern": "(x"}]},
            timeout=120)
    assert "config.rewards[1].pattern" in {v.field for v in info.value.field_violations}
    assert client.jobs.list_jobs(service="trainer").total_size == 0


def test_grpo_on_a_preference_dataset_is_refused_before_queueing_saying_it_needs_chats():
    from tuneforge.services.trainer import preflight

    with pytest.raises(TuneforgeError) as info:
        preflight.check_data_kind("grpo", "preference")
    assert info.value.reason == "DATASET_METHOD_MISMATCH" and "chat dataset" in info.value.message


def test_grpo_reward_means_go_out_as_reward_slash_name_and_dpo_rewards_keep_their_names():
    from tuneforge.services.trainer.callbacks import _METRIC_KEYS, _reward_components

    logs = {"reward": 1.5, "rewards/format/mean": 1.0, "rewards/format/std": 0.0,
            "rewards/chrf/mean": 0.25, "rewards/chosen": 0.1, "rewards/margins": 0.2}
    assert _reward_components(logs) == {"reward/format": 1.0, "reward/chrf": 0.25}
    assert (_METRIC_KEYS["reward"], _METRIC_KEYS["rewards/chosen"]) == ("reward", "reward_chosen")


def test_grpo_with_fewer_prompts_than_one_update_samples_says_what_to_lower(tmp_path):
    """The default plan accumulates 64 batches: on a small dataset TRL's sampler yields no
    batch and transformers stops with "args.max_steps must be set"; the worker says instead
    which setting to lower, before loading anything."""
    import json

    from tuneforge.runtime.errors import TuneforgeError
    from tuneforge.services.trainer.config import TrainingConfig
    from tuneforge.services.trainer.train_worker import load_grpo_prompts

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                                     {"role": "assistant", "content": f"a{i}"}]}) + "\n"
                            for i in range(7)))
    cfg = TrainingConfig(method="grpo", batch_size=2, num_generations=2, rewards=[{"kind": "format"}])
    with pytest.raises(TuneforgeError) as err:
        load_grpo_prompts({"train_file": str(data)}, cfg)
    assert err.value.reason == "GRPO_TOO_FEW_PROMPTS"
    assert err.value.violations[0].field == "config.gradient_accumulation_steps"
    assert "64 distinct prompts" in err.value.message and "has 7" in err.value.message
    ok = TrainingConfig(method="grpo", batch_size=2, num_generations=2, gradient_accumulation_steps=7,
                        rewards=[{"kind": "format"}])
    assert len(load_grpo_prompts({"train_file": str(data)}, ok)[0]) == 7
