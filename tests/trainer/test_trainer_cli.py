"""`tuneforge train ...` in subprocesses against a real server whose registry is down at first:
the job still succeeds, its registration stays PENDING and goes through once the registry is up."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

from trainer_helpers import FAST_STRINGS as FAST
from trainer_helpers import REPO, make_dataset
from tuneforge.client import Client


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(target: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TUNEFORGE_TARGET": target}
    return subprocess.run([sys.executable, "-m", "tuneforge.cli.main", "train", *args], check=False, capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=REPO)  # fmt: skip


def test_cli_train_follow_list_status_config_and_pending_registration(server_factory, tiny_lm_dir, tmp_path, monkeypatch):
    from tuneforge.services.trainer import registration
    from tuneforge.testing.server import ServerThread

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr(registration, "RETRY_MIN_SECONDS", 0.5)
    monkeypatch.setattr(registration, "RETRY_MAX_SECONDS", 1.0)
    port = closed_port()
    srv = server_factory(registry_target=f"127.0.0.1:{port}")
    with Client(srv.target, timeout=30) as client:
        make_dataset(client, tmp_path, "learn", 8)
    sets = [a for k, v in {**FAST, "epochs": "1", "save_steps": "1"}.items() for a in ("--set", f"{k}={v}")]

    run = cli(srv.target, "start", "--dataset", "learn", "--base-model", str(tiny_lm_dir), "--preset", "quick",
              *sets, "--name", "cli-a", "--follow")  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "registration: PENDING" in run.stdout and "adapter:" in run.stdout
    assert "training" in run.stderr and "loss" in run.stderr  # progress and metrics lines

    jobs = json.loads(cli(srv.target, "list", "--json").stdout)["jobs"]
    assert [j["state"] for j in jobs] == ["STATE_SUCCEEDED"]
    job_id = jobs[0]["id"]
    status = json.loads(cli(srv.target, "status", job_id, "--json").stdout)
    assert status["result"]["registration"]["state"] == "STATE_PENDING"
    assert status["result"]["@type"].endswith("tuneforge.trainer.v1.TrainingJobResult")
    assert (srv.config.root / "adapters" / "cli-a" / "final" / "adapter_model.safetensors").is_file()
    metrics = cli(srv.target, "metrics", job_id)
    assert metrics.returncode == 0 and "LOSS" in metrics.stdout and "\n1 " in metrics.stdout
    assert "checkpoint-2" in cli(srv.target, "checkpoints", job_id).stdout
    assert "worker started" in cli(srv.target, "logs", job_id).stdout

    show = cli(srv.target, "config", "show")
    assert show.returncode == 0 and "lora_rank" in show.stdout and "thorough" in show.stdout
    bad = cli(srv.target, "config", "set", "lora_rank=0")
    assert bad.returncode == 3 and "config.lora_rank" in bad.stderr
    typo = cli(srv.target, "config", "set", "lora_rnak=4")  # refused by the client, from the descriptor
    assert typo.returncode != 0 and "lora_rnak" in typo.stderr and "unknown field" in typo.stderr
    bad = cli(srv.target, "start", "--dataset", "learn", "--base-model", str(tiny_lm_dir), "--set", "lora_rank=0", "--name", "x")
    assert bad.returncode == 3 and "config.lora_rank" in bad.stderr

    # the registry comes up at the configured address: the background retry registers the adapter
    # (a registry of its own data root: a second registry on srv's root would be refused)
    with ServerThread(tmp_path / "registry", services=("registry",), port=port) as registry:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            reg = json.loads(cli(srv.target, "status", job_id, "--json").stdout)["result"]["registration"]
            if reg["state"] != "STATE_PENDING":
                break
            time.sleep(0.5)
        assert reg["state"] == "STATE_REGISTERED" and reg["version"] == 1, reg
        with Client(registry.target) as rc:
            assert rc.registry.get_adapter(name="cli-a").job_id == job_id


def test_cli_trains_grpo_with_rewards_given_as_a_json_list_and_shows_the_reward(server_factory, tiny_lm_dir, tmp_path):
    srv = server_factory()
    with Client(srv.target, timeout=30) as client:
        make_dataset(client, tmp_path, "learn", 2)
    config = {**FAST, "batch_size": "2", "method": "grpo", "num_generations": "2", "max_completion_length": "8",
              "rewards": '[{"kind": "format"}, {"kind": "chrf", "weight": 2}]'}
    sets = [a for k, v in config.items() for a in ("--set", f"{k}={v}")]
    run = cli(srv.target, "start", "--dataset", "learn", "--base-model", str(tiny_lm_dir), *sets, "--name", "cli-g",
              "--follow")  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "reward/chrf" in run.stderr  # the metrics lines carry each reward
    assert "reward " in run.stdout and "chrf" in run.stdout  # and the outcome the last step's
    bad = cli(srv.target, "start", "--dataset", "learn", "--base-model", str(tiny_lm_dir), *sets[:-2],
              "--set", 'rewards=[{"kind": "http", "url": "ftp://x"}]', "--name", "cli-h")
    assert bad.returncode == 3 and "config.rewards[0].url" in bad.stderr


def _kto_dataset(client: Client, tmp_path, name: str = "answers") -> None:
    """Eight answers labelled true/false, imported as a kto dataset."""
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"count {i}"},
                                                     {"role": "assistant", "content": f"{i} {i + 1} {i + 2}"}],
                                        "label": i % 3 != 0}) + "\n" for i in range(8)))
    client.dataset.import_dataset(upload_id=client.upload_file("dataset", path).id, dataset_name=name)


def test_cli_trains_kto_on_labelled_answers_and_registers_the_adapter(server_factory, tiny_lm_dir, tmp_path):
    srv = server_factory()
    with Client(srv.target, timeout=30) as client:
        _kto_dataset(client, tmp_path)
        config = {**FAST, "batch_size": "2", "method": "kto", "undesirable_weight": "1.5"}
        sets = [a for k, v in config.items() for a in ("--set", f"{k}={v}")]
        run = cli(srv.target, "start", "--dataset", "answers", "--base-model", str(tiny_lm_dir), *sets,
                  "--name", "cli-k", "--follow")  # fmt: skip
        assert run.returncode == 0, run.stderr[-3000:]
        assert "registration: REGISTERED" in run.stdout, run.stdout
        assert " tok/s" in run.stderr and "throughput" in run.stdout  # progress line, result (issue 27)
        assert client.registry.get_adapter(name="cli-k").version == 1
