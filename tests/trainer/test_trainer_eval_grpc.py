"""Know before you activate, end to end on the tiny model: a synthetic owner (fixed register,
fixed sign-off) is learnt in a short run, the evaluation that follows training shows the
adapter closer to the owner than the base on loss and style, chat streams over gRPC, and the
activation gate refuses an untrained adapter."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from trainer_helpers import FAST_TYPED, REPO, owner_records, write_jsonl

from tuneforge.client import Client, FailedPrecondition, InvalidArgument, job_params, job_result
from tuneforge.common.v1 import common_pb2
from tuneforge.testing.server import ServerThread
from tuneforge.trainer.v1 import trainer_pb2

Job = common_pb2.Job
ASK = [{"role": "user", "content": "what about tree?"}]


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_lm_dir):
    """One server; the dataset, a trained adapter 'bob' (evaluated after training) and an
    untrained one 'blank', shared by the tests of this module (training is the slow part)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    tmp = tmp_path_factory.mktemp("eval")
    with ServerThread(tmp / "var") as srv, Client(srv.target, timeout=60) as client:
        data = write_jsonl(tmp / "owner.jsonl", owner_records(88))
        up = client.upload_file("dataset", data)
        client.dataset.import_dataset(upload_id=up.id, dataset_name="owner", validation_split=8 / 88)
        job = client.trainer.create_training_job(
            dataset="owner", base_model=str(tiny_lm_dir), preset="quick", adapter_name="bob",
            config={**FAST_TYPED, "epochs": 6})
        trained = client.wait_job(job.id)
        assert trained.state == Job.STATE_SUCCEEDED, trained.error_message
        evaluation = _evaluate_job(client)
        blank = _untrained_adapter(tmp, tiny_lm_dir)
        client.registry.register_adapter(name="blank", path=str(blank), base_model=str(tiny_lm_dir),
                                         dataset="owner")
        yield srv, client, trained, evaluation


def _evaluate_job(client):
    (job,) = client.jobs.list_jobs(service="trainer", kind="evaluate").jobs
    return client.wait_job(job.id)


def _untrained_adapter(tmp, tiny):
    """A LoRA adapter straight from initialisation (B = 0): it answers exactly as the base."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny),
                           LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
    model.save_pretrained(tmp / "blank")
    return tmp / "blank"


def test_training_with_held_out_data_is_followed_by_an_evaluation(env):
    _, _, trained, evaluation = env
    assert evaluation.state == Job.STATE_SUCCEEDED, evaluation.error_message
    assert job_params(evaluation).adapter_name == "bob"
    assert job_result(evaluation).recorded and job_result(evaluation).report.adapter_version == 1
    assert job_result(trained).end_of_turn_coverage == 1.0


def test_the_adapter_is_closer_to_the_owner_than_the_base_on_loss_and_style(env):
    _, client, _, _ = env
    report = client.registry.get_evaluation(adapter_name="bob")
    assert report.adapter_version == 1 and len(report.samples) == 8
    assert report.adapter.eval_loss < report.base.eval_loss
    assert report.adapter.style_score > report.base.style_score + 0.2
    assert report.closer_to_owner and report.lower_loss
    assert sum("Cheers, Bob" in s.adapter for s in report.samples) >= 4  # the sign-off is learnt
    assert not any("Cheers, Bob" in s.base for s in report.samples)
    assert report.adapter.stop_rate > report.base.stop_rate


def test_a_sample_holds_the_conversation_and_three_replies(env):
    _, client, _, _ = env
    sample = client.registry.get_evaluation(adapter_name="bob").samples[0]
    assert sample.messages[-1].role == "user" and sample.reference.endswith("Cheers, Bob")
    assert isinstance(sample.base, str) and sample.adapter


def test_show_and_list_carry_the_evaluation_summary(env):
    _, client, _, _ = env
    adapter = client.registry.get_adapter(name="bob")
    assert adapter.evaluation.closer_to_owner and adapter.evaluation.version == 1
    assert adapter.evaluation.adapter_style_score > adapter.evaluation.base_style_score
    listed = {a.name: a for a in client.registry.list_adapters().adapters}
    assert listed["bob"].HasField("evaluation") and not listed["blank"].HasField("evaluation")


def test_chat_streams_the_reply_piece_by_piece(env):
    _, client, _, _ = env
    responses = list(client.trainer.chat(adapter_name="bob", messages=ASK, timeout=120))
    assert responses[0].WhichOneof("kind") == "job" and responses[0].job.kind == "chat"
    pieces = [r.piece.text for r in responses if r.WhichOneof("kind") == "piece"]
    (reply,) = [r.reply for r in responses if r.WhichOneof("kind") == "reply"]
    assert len(pieces) > 3 and "".join(pieces) == reply.text
    assert reply.side == trainer_pb2.CHAT_SIDE_ADAPTER and "Cheers" in reply.text


def test_chat_compare_answers_with_the_base_then_the_adapter(env):
    _, client, _, _ = env
    responses = list(client.trainer.chat(adapter_name="bob", messages=ASK, compare=True,
                                         max_new_tokens=16, timeout=120))
    sides = [r.reply.side for r in responses if r.WhichOneof("kind") == "reply"]
    assert sides == [trainer_pb2.CHAT_SIDE_BASE, trainer_pb2.CHAT_SIDE_ADAPTER]


def test_chat_refuses_a_conversation_not_ending_with_the_user(env):
    _, client, _, _ = env
    with pytest.raises(InvalidArgument):
        list(client.trainer.chat(adapter_name="bob", timeout=30,
                                 messages=[*ASK, {"role": "assistant", "content": "hi"}]))


def test_gate_refuses_an_adapter_without_a_report(env):
    _, client, _, _ = env
    with pytest.raises(FailedPrecondition) as info:
        client.registry.activate_adapter(name="blank", require_eval=True)
    assert "EVALUATION_MISSING" in str(info.value)


def test_gate_refuses_an_untrained_adapter_and_passes_the_trained_one(env):
    _, client, _, _ = env
    job = client.trainer.create_evaluation_job(adapter_name="blank", samples=4, max_new_tokens=16)
    done = client.wait_job(job.id)
    assert done.state == Job.STATE_SUCCEEDED, done.error_message
    assert not client.registry.get_evaluation(adapter_name="blank").closer_to_owner
    with pytest.raises(FailedPrecondition) as info:
        client.registry.activate_adapter(name="blank", require_eval=True)
    assert "EVALUATION_NOT_BETTER" in str(info.value)
    report = client.registry.get_evaluation(adapter_name="bob")  # recorded by the job: trusted
    assert report.provenance == report.PROVENANCE_EVALUATION_JOB and report.job_id
    assert client.registry.activate_adapter(name="bob", require_eval=True).adapter_name == "bob"


# ---- the same from the shell (last: `adapters eval` replaces bob's report) -------------------
def cli(srv, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TUNEFORGE_TARGET": srv.target}
    return subprocess.run([sys.executable, "-m", "tuneforge.cli.main", "adapters", *args],
                          check=False, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)


def test_cli_show_and_list_print_the_evaluation_summary(env):
    srv = env[0]
    show = cli(srv, "show", "bob")
    assert show.returncode == 0 and "closer to the owner" in show.stdout, show.stderr
    listed = cli(srv, "list")
    assert "STYLE (vs base)" in listed.stdout and "(closer)" in listed.stdout


def test_cli_chat_one_shot_streams_the_reply_and_compare_shows_both(env):
    srv = env[0]
    one = cli(srv, "chat", "bob", "what about tree?")
    assert one.returncode == 0 and "Cheers" in one.stdout, one.stderr
    both = cli(srv, "chat", "bob", "what about tree?", "--compare", "--max-new-tokens", "16")
    assert both.returncode == 0 and "[base]" in both.stdout and "[adapter]" in both.stdout
    assert "base" in both.stdout.splitlines()[-4] or " | adapter" in both.stdout


def test_cli_activate_require_eval_refuses_with_the_reason(env):
    srv = env[0]
    refused = cli(srv, "activate", "blank", "--require-eval")
    assert refused.returncode == 6 and "EVALUATION_NOT_BETTER" in refused.stderr


def test_cli_eval_json_prints_the_report(env):
    srv = env[0]
    out = cli(srv, "eval", "bob", "--samples", "2", "--max-new-tokens", "16", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["base"]["eval_loss"] > report["adapter"]["eval_loss"]
    assert len(report["samples"]) == 2 and {"reference", "base", "adapter"} <= set(report["samples"][0])


def test_the_registrys_report_feeds_the_preference_loop(env):
    srv, client = env[0], env[1]
    env_vars = {**os.environ, "OMP_NUM_THREADS": "1", "TUNEFORGE_TARGET": srv.target}
    out = subprocess.run([sys.executable, "-m", "tuneforge.cli.main", "dataset", "prefer", "bob-pairs",
                          "--from-eval", "bob"], check=False, capture_output=True, text=True, timeout=300,
                         env=env_vars, cwd=REPO)
    report = client.registry.get_evaluation(adapter_name="bob")
    differing = sum(s.adapter.strip() != s.reference.strip() for s in report.samples)
    if differing:
        assert out.returncode == 0, out.stderr
        pairs = client.dataset.get_dataset(name="bob-pairs")
        assert pairs.format == "preference" and pairs.record_count + pairs.validation_record_count == differing
    else:
        assert out.returncode != 0
