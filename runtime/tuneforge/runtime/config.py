"""Configuration: built-in defaults, then a TOML file, then ``TUNEFORGE_*`` environment.

The file is ``--config FILE``, else ``$TUNEFORGE_CONFIG``, else ``<data root>/tuneforge.toml``
when it exists. Keys are the field names below, either flat or grouped in tables
(``[vllm] mode = "hot"`` is the same as ``vllm_mode = "hot"``). Every field can be set from
the environment as ``TUNEFORGE_<FIELD>`` (``TUNEFORGE_VLLM_URL``, ``TUNEFORGE_PORT``, ...).
``tuneforge config show`` prints the effective values and where each came from.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from tuneforge.runtime.errors import invalid_argument

DEFAULT_PORT = 50051


@dataclass
class Config:
    # -- server
    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on"})
    port: int = field(default=DEFAULT_PORT, metadata={"help": "gRPC port"})
    data_root: str = field(
        default="./var", metadata={"help": "data root (state.db, datasets, adapters, jobs)"}
    )
    database_busy_timeout_seconds: float = field(
        default=30.0,
        metadata={"help": "how long state.db waits for a lock another process holds (a server refuses to start after it)"},
    )
    auth_token: str = field(
        default="", metadata={"help": "bearer token required in `authorization` metadata"}
    )
    tls_cert: str = field(default="", metadata={"help": "server certificate (PEM) for TLS"})
    tls_key: str = field(default="", metadata={"help": "server private key (PEM) for TLS"})
    tls_client_ca: str = field(
        default="", metadata={"help": "CA (PEM) for client certificates: enables mTLS"}
    )
    tls_ca: str = field(
        default="", metadata={"help": "CA (PEM) that signed the servers' certificates (clients)"}
    )
    log_level: str = field(default="info", metadata={"help": "debug, info, warning, error"})
    metrics_port: int = field(
        default=0, metadata={"help": "Prometheus metrics port (0 = off)"}
    )
    web_port: int = field(
        default=0, metadata={"help": "web console port beside the services (0 = off)"}
    )
    web_allowed_hosts: str = field(
        default="", metadata={"help": "host names the web console answers to besides loopback and IP addresses, "
                                      "comma-separated (name or name:port): the DNS-rebinding guard"}
    )
    max_upload_bytes: int = field(
        default=20 * 1024**3, metadata={"help": "largest accepted upload in bytes"}
    )
    max_record_bytes: int = field(
        default=4 * 1024**2, metadata={"help": "largest record (a line, a JSON array element, a CSV row) a dataset import reads; larger ones are invalid and skipped"}
    )
    upload_retention_hours: float = field(
        default=24.0, metadata={"help": "delete uploads older than this (0 = keep forever)"}
    )
    # -- jobs
    worker_python: str = field(
        default="", metadata={"help": "interpreter for dataset/trainer workers (default: this one)"}
    )
    tts_python: str = field(
        default="", metadata={"help": "interpreter for TTS workers (its own virtualenv)"}
    )
    gpu_devices: str = field(
        default="", metadata={"help": "CUDA_VISIBLE_DEVICES for training workers, e.g. '1'"}
    )
    tts_gpu_devices: str = field(
        default="", metadata={"help": "CUDA_VISIBLE_DEVICES for TTS workers (default gpu_devices)"}
    )
    max_parallel_jobs: int = field(
        default=2, metadata={"help": "jobs without the GPU lock that may run at once"}
    )
    stop_timeout_seconds: float = field(
        default=300.0, metadata={"help": "graceful stop: time to save a checkpoint before kill"}
    )
    stop_workers_on_exit: bool = field(
        default=False,
        metadata={"help": "on SIGTERM, stop running workers gracefully (checkpoint, CANCELLED) before exiting: "
                          "for containers, where workers die with the server"},
    )
    train_num_processes: int = field(
        default=1, metadata={"help": "training processes per node (>1: torchrun DDP through dist_launch; "
                                     "with accelerate_config, accelerate launch)"}
    )
    accelerate_config: str = field(
        default="", metadata={"help": "accelerate config file (DDP/FSDP/DeepSpeed)"}
    )
    training_executor: str = field(
        default="local", metadata={"help": "where training workers run: local, ray, slurm or kubernetes "
                                           "(docs/distributed.md)"}
    )
    full_max_parameters: int = field(
        default=4_000_000_000,
        metadata={"help": "method=full is refused for base models larger than this (0 = no limit)"},
    )
    kubectl: str = field(default="kubectl", metadata={"help": "kubectl command (kubernetes executor)"})
    kubernetes_namespace: str = field(
        default="", metadata={"help": "namespace for training Jobs (default: kubectl's)"}
    )
    kubernetes_image: str = field(
        default="", metadata={"help": "image for training Jobs (the tuneforge image)"}
    )
    kubernetes_pvc: str = field(
        default="", metadata={"help": "PVC holding the data root, mounted at the same path in Jobs"}
    )
    kubernetes_service_account: str = field(
        default="", metadata={"help": "service account of training Jobs"}
    )
    kubernetes_gpus: int = field(default=1, metadata={"help": "nvidia.com/gpu per training Job"})
    kubernetes_python: str = field(
        default="python", metadata={"help": "interpreter inside the training Job's image"}
    )
    kubernetes_secret: str = field(
        default="tuneforge-auth",
        metadata={"help": "Secret that training Jobs read secret variables from (never copied into the manifest)"},
    )
    kubernetes_secret_env: str = field(
        default="HF_TOKEN=hf-token",
        metadata={"help": "credential variables training Jobs get by secretKeyRef, as VAR=key-in-kubernetes_secret, "
                          "comma-separated (other credential-like ones are withheld)"},
    )
    kubectl_timeout_seconds: float = field(
        default=30.0,
        metadata={"help": "deadline of one kubectl call: killed after it, a failed try (kubectl's --request-timeout is half)"},
    )
    kubernetes_start_budget_seconds: float = field(
        default=120.0,
        metadata={"help": "how long starting or stopping a training Job retries kubectl through API errors (backoff 0.5 s doubling to 10 s)"},
    )
    # -- ray executor (issue 23; docs/distributed.md)
    ray_address: str = field(
        default="", metadata={"help": "Ray Jobs API of the cluster training runs on (training_executor = ray), "
                                      "e.g. http://head:8265"}
    )
    ray_num_workers: int = field(
        default=2, metadata={"help": "Ray Train workers (ranks) per training job"}
    )
    ray_resources_per_worker: str = field(
        default="CPU=1", metadata={"help": "Ray resources of each worker, e.g. CPU=4,GPU=1"}
    )
    ray_max_failures: int = field(
        default=2, metadata={"help": "restarts from the latest checkpoint Ray Train makes after a lost worker"}
    )
    # -- services talking to each other
    registry_target: str = field(
        default="", metadata={"help": "registry address for the trainer (default: this server)"}
    )
    dataset_target: str = field(
        default="", metadata={"help": "dataset service address (default: this server)"}
    )
    activation_requires_eval: bool = field(
        default=False, metadata={"help": "activate, roll back to or serve only adapters whose evaluation "
                                 "job's report beats the base model (binds every request)"}
    )
    activation_requires_audit: bool = field(
        default=False, metadata={"help": "activate, roll back to or serve only adapters whose leak audit "
                                 "job passed (binds every request)"}
    )
    audit_samples: int = field(default=50, metadata={"help": "probes a leak audit samples"})
    audit_max_new_tokens: int = field(default=32, metadata={"help": "completion limit of a leak audit probe"})
    audit_max_reproduced: int = field(
        default=0, metadata={"help": "completions reproducing a scrubbed value a passing audit allows"}
    )
    audit_max_verbatim_fraction: float = field(
        default=0.1, metadata={"help": "share of verbatim probes repeating a long training span a passing "
                               "audit allows"}
    )
    audit_verbatim_chars: int = field(
        default=50, metadata={"help": "characters of a training message repeated in a row that count as verbatim"}
    )
    # -- vLLM
    vllm_url: str = field(default="", metadata={"help": "base URL of the vLLM server"})
    vllm_mode: str = field(default="none", metadata={"help": "hot, restart or none"})
    vllm_restart_command: str = field(
        default="", metadata={"help": "command run in restart mode (shell syntax)"}
    )
    vllm_restart_timeout_seconds: float = field(
        default=300.0,
        metadata={"help": "timeout of the restart command, and then of the wait until vLLM serves the adapter"},
    )
    vllm_timeout_seconds: float = field(
        default=10.0,
        metadata={"help": "deadline of every call to vLLM, and of a hot-mode activation as a whole"},
    )
    vllm_max_lora_rank: int = field(
        default=16, metadata={"help": "the --max-lora-rank vLLM runs with (1, 8, 16, 32, 64, 128, 256, 320, 512)"}
    )
    vllm_max_loras: int = field(
        default=4, metadata={"help": "adapters served at once (active + served); vLLM's --max-loras"}
    )
    vllm_log_file: str = field(
        default="", metadata={"help": "vLLM's output file; a failed restart reports its tail"}
    )
    vllm_api_key: str = field(default="", metadata={"help": "bearer token for vLLM, if any"})
    vllm_share_gpu: bool = field(
        default=False,
        metadata={"help": "vLLM shares the training GPU: GPU jobs put it to sleep, then wake it"},
    )
    vllm_sleep_level: int = field(
        default=1, metadata={"help": "vLLM sleep level for GPU jobs: 1 offload weights, 2 drop"}
    )
    # -- models
    models_dir: str = field(
        default="", metadata={"help": "directory of local models (whisper, base models)"}
    )
    local_input_dirs: str = field(
        default="",
        metadata={"help": "directories (separated by ':') whose files clients on this host may hand "
                          "over by path (local_path) instead of uploading; empty = none"},
    )
    # -- export (docs/export.md; tools built by scripts/setup_export_env.sh)
    export_llama_cpp_dir: str = field(
        default="", metadata={"help": "llama.cpp's GGUF converters (default: the set-up's cache)"}
    )
    export_awq_python: str = field(
        default="", metadata={"help": "interpreter of llm-compressor's venv (default: the set-up's)"}
    )
    export_reserve_bytes: int = field(
        default=1024**3, metadata={"help": "disk an export must leave free, in bytes"}
    )
    export_calibration_samples: int = field(
        default=128, metadata={"help": "training rows AWQ calibrates on"}
    )
    # -- chat (TrainerService.Chat, the console's chat)
    chat_max_messages: int = field(
        default=512, metadata={"help": "most messages one chat request may carry (INVALID_ARGUMENT beyond)"}
    )
    chat_max_chars: int = field(
        default=262_144, metadata={"help": "most characters one chat request may carry, all messages together"}
    )
    allowed_paths: str = field(
        default="",
        metadata={"help": "directories outside the data root that requests may name (comma-separated; empty: the data root only)"},
    )
    # -- distributed training (docs/distributed.md)
    train_num_nodes: int = field(
        default=1, metadata={"help": "nodes a training job runs on (slurm; each runs train_num_processes)"}
    )
    slurm_sbatch: str = field(default="sbatch", metadata={"help": "sbatch command (slurm executor)"})
    slurm_squeue: str = field(default="squeue", metadata={"help": "squeue command (slurm executor)"})
    slurm_sacct: str = field(default="sacct", metadata={"help": "sacct command (slurm executor)"})
    slurm_scancel: str = field(default="scancel", metadata={"help": "scancel command (slurm executor)"})
    slurm_partition: str = field(default="", metadata={"help": "partition of training jobs (default: Slurm's)"})
    slurm_gpus_per_node: int = field(default=0, metadata={"help": "GPUs per node a training job asks for (--gpus-per-node)"})
    slurm_time_limit: str = field(default="", metadata={"help": "--time of training jobs, e.g. 24:00:00 (default: the partition's)"})
    slurm_sbatch_lines: str = field(
        default="", metadata={"help": "extra #SBATCH options of training jobs, separated by ';' "
                                      "(e.g. '--account=lab;--qos=high')"}
    )
    slurm_python: str = field(default="", metadata={"help": "interpreter on the compute nodes (default: worker_python)"})
    slurm_timeout_seconds: float = field(
        default=30.0, metadata={"help": "deadline of one sbatch/squeue/sacct/scancel call"}
    )
    slurm_start_budget_seconds: float = field(
        default=120.0, metadata={"help": "how long submitting or stopping a training job retries through Slurm errors"}
    )
    # -- control plane on PostgreSQL (docs/operations.md, "PostgreSQL")
    database_url: str = field(
        default="",
        metadata={"help": "empty: SQLite under the data root; postgresql://user:pass@host/db: PostgreSQL shared by replicas"},
    )
    job_lease_seconds: float = field(
        default=15.0,
        metadata={"help": "PostgreSQL: how long a replica's hold on a running job lasts unrenewed before another takes it over"},
    )
    # -- the serving path's conformance check (docs/activation.md)
    activation_requires_conformance: bool = field(
        default=False, metadata={"help": "activate or serve only adapters that pass the conformance check on vLLM "
                                 "(staged under NAME@vN~staging first; hot and restart modes)"}
    )
    conformance_prompts: int = field(default=4, metadata={"help": "prompts the conformance check sends"})
    conformance_max_tokens: int = field(
        default=32, metadata={"help": "max_tokens of a conformance reply: one that has not ended by then did not stop"}
    )
    conformance_parity_tokens: int = field(
        default=8, metadata={"help": "greedy tokens compared between vLLM and the PEFT model per prompt"}
    )
    conformance_min_stop_rate: float = field(
        default=0.75, metadata={"help": "share of replies that must end with the end-of-turn token"}
    )
    conformance_max_leak_rate: float = field(
        default=0.0, metadata={"help": "share of replies allowed to hold special tokens or role markers"}
    )
    conformance_min_parity: float = field(
        default=0.75, metadata={"help": "share of prompts whose greedy tokens through vLLM must equal PEFT's"}
    )
    conformance_timeout_seconds: float = field(
        default=300.0, metadata={"help": "deadline of one conformance check (the PEFT reference included)"}
    )
    conformance_reference_python: str = field(
        default="", metadata={"help": "interpreter with torch and peft for the parity reference "
                              "(default: worker_python, else this one)"}
    )
    serving_lora_throughput_ratio: float = field(
        default=0.0, metadata={"help": "one adapter's tokens/s over the base's on this vLLM, as measured by "
                               "bench/lora_serving.py (ratio_to_base.one_adapter; 0 = not measured): adapters "
                               "show suggests merging an adapter served alone when it is below 0.8"}
    )

    @property
    def root(self) -> Path:
        return Path(self.data_root).expanduser().resolve()

    @property
    def listen_address(self) -> str:
        return f"{self.host}:{self.port}"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_SECRET_FIELDS = {"auth_token", "vllm_api_key"}
_VALID = {
    "vllm_mode": {"hot", "restart", "none"},
    "training_executor": {"local", "ray", "slurm", "kubernetes"},
    "log_level": {"debug", "info", "warning", "error"},
}


def _coerce(name: str, kind: type, raw: Any) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        return str(raw).strip().lower() in {"1", "true", "yes", "on"}
    try:
        return kind(raw)
    except (TypeError, ValueError):
        raise invalid_argument(name, f"expected {kind.__name__}, got {raw!r}") from None


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}_"))
        else:
            flat[name] = value
    return flat


def load_config(
    path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> tuple[Config, dict[str, str]]:
    """Return the effective config and, per field, where its value came from."""
    env = os.environ if environ is None else environ
    types = {f.name: f.type for f in fields(Config)}
    kinds = {name: {"str": str, "int": int, "float": float, "bool": bool}[t] for name, t in types.items()}
    values: dict[str, Any] = {}
    origin = {name: "default" for name in kinds}

    data_root = (overrides or {}).get("data_root") or env.get("TUNEFORGE_DATA_ROOT") or env.get(
        "TUNEFORGE_HOME"
    )
    file_path = path or env.get("TUNEFORGE_CONFIG")
    if not file_path:
        candidate = Path(data_root or Config.data_root) / "tuneforge.toml"
        file_path = candidate if candidate.exists() else None
    if file_path:
        file_path = Path(file_path)
        if not file_path.exists():
            raise invalid_argument("config", f"config file {str(file_path)!r} does not exist")
        try:
            table = tomllib.loads(file_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise invalid_argument("config", f"{file_path}: {exc}") from None
        for key, value in _flatten(table).items():
            if key not in kinds:
                raise invalid_argument("config", f"{file_path}: unknown key {key!r}")
            values[key] = _coerce(key, kinds[key], value)
            origin[key] = str(file_path)
    if env.get("TUNEFORGE_HOME") and "TUNEFORGE_DATA_ROOT" not in env:
        values["data_root"] = env["TUNEFORGE_HOME"]
        origin["data_root"] = "env TUNEFORGE_HOME"
    for name, kind in kinds.items():
        key = f"TUNEFORGE_{name.upper()}"
        if key in env:
            values[name] = _coerce(key, kind, env[key])
            origin[name] = f"env {key}"
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        values[name] = _coerce(name, kinds[name], value)
        origin[name] = "command line"
    config = Config(**values)
    for name, allowed in _VALID.items():
        if getattr(config, name) not in allowed:
            raise invalid_argument(name, f"must be one of {sorted(allowed)}")
    if config.vllm_sleep_level not in (1, 2):
        raise invalid_argument("vllm_sleep_level", "must be 1 (offload weights) or 2 (drop them)")
    for name in ("chat_max_messages", "chat_max_chars", "train_num_nodes", "train_num_processes"):
        if getattr(config, name) < 1:
            raise invalid_argument(name, "must be at least 1")
    for name in ("conformance_prompts", "conformance_max_tokens", "conformance_parity_tokens"):
        if getattr(config, name) < 1:
            raise invalid_argument(name, "must be at least 1")
    for name in ("conformance_min_stop_rate", "conformance_max_leak_rate", "conformance_min_parity"):
        if not 0.0 <= getattr(config, name) <= 1.0:
            raise invalid_argument(name, "must be a share between 0 and 1")
    if config.serving_lora_throughput_ratio < 0:
        raise invalid_argument("serving_lora_throughput_ratio", "must be 0 (not measured) or a positive ratio")
    return config, origin


def describe(config: Config, origin: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """Rows (key, value, origin, help) for `tuneforge config show`, secrets masked."""
    rows = []
    for f in fields(Config):
        value = getattr(config, f.name)
        shown = "***" if f.name in _SECRET_FIELDS and value else str(value)
        if f.name == "database_url":  # its password, not the rest
            shown = re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", shown)
        rows.append((f.name, shown, origin.get(f.name, "default"), f.metadata.get("help", "")))
    return rows
