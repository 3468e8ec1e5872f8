"""The training configuration: one dataclass, the same keys in the API, config files and ``--set``.

Values arrive as text (``--set lora_rank=16``, gRPC ``map<string,string>``) or as JSON/YAML
scalars; :func:`parse_value` turns either into the field's type, and :func:`validate` does the
static checks. Checks that need the base model (target modules, context length) live in
:mod:`tuneforge.services.trainer.model_check`. Transport-free and torch-free.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import FieldViolation, invalid_fields
from tuneforge.services.trainer import rewards as rewards_mod

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
QUANTIZATIONS = ("none", "nf4")
METHODS = ("lora", "full", "dpo", "orpo", "kto", "grpo")
PREFERENCE_METHODS = ("dpo", "orpo", "kto")  # no packing: whole prompt/answer rows
REPORT_TO = ("none", "tensorboard", "mlflow")
ATTN_IMPLEMENTATIONS = ("auto", "eager", "sdpa", "flash_attention_2", "flash_attention_3")
TRUNCATIONS = ("truncate", "split_turns", "drop")
BEST_CHECKPOINT_METRICS = ("eval_loss", "last")  # issue 27
DEFAULT_TARGET_MODULES = ["q_proj", "k_proj", "v_proj"]


def _f(default: Any, help: str, **kw: Any) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class TrainingConfig:
    lora_rank: int = _f(8, "LoRA rank r: size of the low-rank update (higher = more capacity).")
    lora_alpha: int = _f(16, "LoRA alpha: scaling of the update (effective scale alpha / rank).")
    lora_dropout: float = _f(0.05, "Dropout on the LoRA branch, 0 <= p < 1.")
    target_modules: list[str] | str = _f(
        DEFAULT_TARGET_MODULES,
        "Linear modules that get LoRA, by leaf name (q_proj,k_proj,v_proj) or 'all-linear'.",
    )
    batch_size: int = _f(1, "Sequences per device per step.")
    gradient_accumulation_steps: int = _f(64, "Steps whose gradients are summed per update.")
    learning_rate: float = _f(2e-4, "Peak learning rate (linear warmup, then linear decay).")
    epochs: float = _f(1, "Passes over the training data (may be fractional).")
    max_seq_length: int = _f(768, "Token limit per sequence; what happens to longer records: "
                                  "truncation.")
    truncation: str = _f(
        "truncate", "truncate | split_turns | drop: a chat longer than max_seq_length keeps its "
        "start (a cut assistant turn is not trained), is split at turn boundaries (each piece "
        "with the system prompt), or is dropped. None trains a turn without its end-of-turn "
        "token.")
    warmup_ratio: float = _f(0.03, "Fraction of steps spent warming the learning rate up.")
    weight_decay: float = _f(0.01, "AdamW weight decay.")
    gradient_checkpointing: bool = _f(True, "Recompute activations to save memory (slower).")
    precision: str = _f(
        "auto", "auto | bf16 | fp16 | fp32; auto = bf16 (or fp16) on a GPU, fp32 on CPU."
    )
    quantization: str = _f(
        "none", "none | nf4 (4-bit QLoRA via bitsandbytes; works on CPU too, slowly)."
    )
    save_steps: int = _f(200, "Save a checkpoint every N optimizer steps.")
    eval_steps: int = _f(0, "Evaluate every N steps (0 = once per epoch) when validating.")
    validation_split: float = _f(
        0.0, "Fraction held out for eval loss when the dataset has no validation file (0-0.5)."
    )
    early_stopping_patience: int = _f(
        0, "Stop after N evaluations without eval-loss improvement (0 = off)."
    )
    seed: int = _f(42, "Random seed (data order, LoRA init, dropout).")
    packing: bool = _f(False, "Pack several short chats into one sequence (faster on chat data).")
    method: str = _f(
        "lora", "lora (SFT of an adapter; QLoRA with quantization=nf4) | full (SFT of every "
        "weight: a whole model) | dpo | orpo (preference pairs, adapter) | kto (answers "
        "labelled true/false, adapter) | grpo (sampled replies scored by config.rewards, adapter)."
    )
    use_dora: bool = _f(False, "DoRA: LoRA plus a learned magnitude per output (vLLM cannot "
                               "serve it: merge before serving).")
    use_rslora: bool = _f(False, "rsLoRA: scale the update by alpha/sqrt(rank) (stable at "
                                 "high ranks).")
    loraplus_lr_ratio: float = _f(0.0, "LoRA+: the B matrices learn this many times faster "
                                       "than A (0 = off; 16 is the paper's value).")
    preference_beta: float = _f(0.1, "DPO/ORPO/KTO beta: strength of the preference term.")
    # KTO (issue 27)
    desirable_weight: float = _f(1.0, "KTO: weight of the answers labelled true (raise it when "
                                      "they are fewer than the false ones).")
    undesirable_weight: float = _f(1.0, "KTO: weight of the answers labelled false (TRL advises "
                                        "desirable_weight x true answers / (undesirable_weight "
                                        "x false answers) between 1 and 4/3).")
    report_to: str = _f("none", "none | tensorboard | mlflow: offline experiment tracking "
                                "under the job's directory.")
    use_liger_kernel: bool = _f(False, "Liger's fused Triton kernels (GPU; needs liger-kernel).")
    attn_implementation: str = _f(
        "auto", "auto | eager | sdpa | flash_attention_2 | flash_attention_3; auto = flash "
                "attention when installed on a GPU, else sdpa.")
    # GRPO (issue 27)
    num_generations: int = _f(4, "GRPO: replies sampled per prompt (>= 2; batch_size x "
                                 "gradient_accumulation_steps must be a multiple of it).")
    max_completion_length: int = _f(64, "GRPO: token limit of each sampled reply.")
    rewards: list[dict] = _f([], "GRPO: reward functions as a JSON list, e.g. "
                                 '[{"kind": "format"}, {"kind": "chrf", "weight": 2}] '
                                 "(kinds format, length, chrf, regex, http; docs/training.md).")
    # best checkpoint / resume (issue 27)
    best_checkpoint_metric: str = _f(
        "eval_loss", "eval_loss | last: with held-out data every checkpoint is evaluated and the "
                     "one with the lowest eval loss is registered (last = the last step).")
    save_total_limit: int = _f(0, "Checkpoints kept on disk (0 = all); the best and the last "
                                  "are always kept.")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_strings(self) -> dict[str, str]:
        """Key -> value as text, in the form ``--set`` and the gRPC maps use."""
        return {k: format_value(v) for k, v in self.to_dict().items()}


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(TrainingConfig)}
HELP: dict[str, str] = {name: f.metadata["help"] for name, f in FIELDS.items()}
_INT_FIELDS = {"lora_rank", "lora_alpha", "batch_size", "gradient_accumulation_steps",
               "max_seq_length", "save_steps", "eval_steps", "early_stopping_patience", "seed",
               "num_generations", "max_completion_length",
               "save_total_limit"}  # issue 27
_FLOAT_FIELDS = {"lora_dropout", "learning_rate", "epochs", "warmup_ratio", "weight_decay",
                 "validation_split", "loraplus_lr_ratio", "preference_beta",
                 "desirable_weight", "undesirable_weight"}
_BOOL_FIELDS = {"gradient_checkpointing", "packing", "use_dora", "use_rslora",
                "use_liger_kernel"}
_CHOICES = {"method": METHODS, "report_to": REPORT_TO,
            "attn_implementation": ATTN_IMPLEMENTATIONS, "truncation": TRUNCATIONS,
            "best_checkpoint_metric": BEST_CHECKPOINT_METRICS}
_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        if any(isinstance(v, dict) for v in value):
            return json.dumps(value)
        return ",".join(str(v) for v in value)
    return str(value)


def parse_value(key: str, value: Any) -> Any:
    """Turn text or a JSON scalar into the type of field ``key``; raises ValueError."""
    if key in _BOOL_FIELDS:
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"expected a boolean (true/false), got {value!r}")
    if key in _INT_FIELDS:
        if isinstance(value, bool):
            raise ValueError(f"expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if value.is_integer():
                return int(value)
            raise ValueError(f"expected an integer, got {value!r}")
        text = str(value).strip().replace("_", "")
        try:
            return int(text)
        except ValueError:
            try:
                as_float = float(text)
            except ValueError:
                raise ValueError(f"expected an integer, got {value!r}") from None
            if as_float.is_integer():
                return int(as_float)
            raise ValueError(f"expected an integer, got {value!r}") from None
    if key in _FLOAT_FIELDS:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            number = float(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"expected a finite number, got {value!r}")
        return number
    if key == "target_modules":
        if isinstance(value, (list, tuple)):
            items = [str(v).strip() for v in value]
        else:
            text = str(value).strip()
            if text.startswith("["):
                try:
                    items = [str(v).strip() for v in json.loads(text)]
                except (ValueError, TypeError):
                    raise ValueError(f"expected a list of module names, got {value!r}") from None
            else:
                items = [part.strip() for part in text.split(",")]
        items = [i for i in items if i]
        if items == ["all-linear"]:
            return "all-linear"
        return items
    if key == "rewards":
        return rewards_mod.parse(value)
    if key in ("precision", "quantization"):
        text = str(value).strip().lower()
        aliases = {"4bit": "nf4", "4-bit": "nf4", "qlora": "nf4", "float32": "fp32",
                   "bfloat16": "bf16", "float16": "fp16", "": "none"}
        return aliases.get(text, text)
    if key in _CHOICES:
        text = str(value).strip().lower() or _CHOICES[key][0]
        return {"sft": "lora", "qlora": "lora"}.get(text, text) if key == "method" else text
    raise KeyError(key)


def apply_overrides(cfg: TrainingConfig, overrides: dict[str, Any]) -> TrainingConfig:
    """A copy of ``cfg`` with ``overrides`` applied; unknown keys and bad values → violations."""
    violations: list[FieldViolation] = []
    values = cfg.to_dict()
    for key, raw in (overrides or {}).items():
        name = str(key).strip().replace("-", "_")
        if name not in FIELDS:
            violations.append(FieldViolation(
                f"config.{key}", f"unknown config key; known keys: {', '.join(FIELDS)}"))
            continue
        try:
            values[name] = parse_value(name, raw)
        except ValueError as exc:
            violations.append(FieldViolation(f"config.{name}", str(exc)))
    if violations:
        raise invalid_fields(violations, reason="INVALID_TRAINING_CONFIG",
                             message="invalid training config")
    return TrainingConfig(**values)


def parse_set_args(items: list[str]) -> dict[str, str]:
    """``["lora_rank=16", "target_modules=q_proj,v_proj"]`` → dict (for ``--set``)."""
    out: dict[str, str] = {}
    violations = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            violations.append(FieldViolation("set", f"expected key=value, got {item!r}"))
            continue
        out[key.strip()] = value
    if violations:
        raise invalid_fields(violations, reason="INVALID_TRAINING_CONFIG")
    return out


# Upper bounds: far beyond any real run, low enough that a typo (epochs 1e9) is refused at
# creation instead of producing a job that cannot finish or overflows a library. A batch
# below its bound that cannot fit in memory is the pre-flight's to refuse (INSUFFICIENT_MEMORY).
LIMITS: dict[str, float] = {
    "lora_rank": 8192, "lora_alpha": 1_000_000, "batch_size": 4_194_304, "gradient_accumulation_steps": 100_000,
    "epochs": 10_000, "max_seq_length": 1_048_576, "weight_decay": 10.0, "save_steps": 100_000_000,
    "eval_steps": 100_000_000, "early_stopping_patience": 100_000, "seed": 2**32 - 1,
    "desirable_weight": 1000.0, "undesirable_weight": 1000.0,
    "num_generations": 1024, "max_completion_length": 1_048_576,
}  # fmt: skip


def check(cfg: TrainingConfig) -> list[FieldViolation]:
    """Static checks of a config; returns every violation (empty = fine)."""
    v: list[FieldViolation] = []

    def bad(name: str, why: str) -> None:
        v.append(FieldViolation(f"config.{name}", why))

    v += _over_limits(cfg)

    if cfg.lora_rank <= 0:
        bad("lora_rank", f"must be > 0, got {cfg.lora_rank}")
    if cfg.lora_alpha <= 0:
        bad("lora_alpha", f"must be > 0, got {cfg.lora_alpha}")
    if not 0 <= cfg.lora_dropout < 1:
        bad("lora_dropout", f"must be in [0, 1), got {cfg.lora_dropout}")
    if cfg.target_modules != "all-linear":
        if not isinstance(cfg.target_modules, list) or not cfg.target_modules:
            bad("target_modules", "give module names (e.g. q_proj,v_proj) or 'all-linear'")
        elif any(not m.replace("_", "").replace(".", "").isalnum() for m in cfg.target_modules):
            bad("target_modules", f"module names are letters, digits, '_' and '.': "
                                  f"{cfg.target_modules}")
    if cfg.batch_size <= 0:
        bad("batch_size", f"must be > 0, got {cfg.batch_size}")
    if cfg.gradient_accumulation_steps <= 0:
        bad("gradient_accumulation_steps", f"must be > 0, got {cfg.gradient_accumulation_steps}")
    if not cfg.learning_rate > 0:
        bad("learning_rate", f"must be > 0, got {cfg.learning_rate}")
    elif cfg.learning_rate > 1:
        bad("learning_rate", f"must be <= 1, got {cfg.learning_rate}")
    if not cfg.epochs > 0:
        bad("epochs", f"must be > 0, got {cfg.epochs}")
    if cfg.max_seq_length < 16:
        bad("max_seq_length", f"must be >= 16, got {cfg.max_seq_length}")
    if not 0 <= cfg.warmup_ratio < 1:
        bad("warmup_ratio", f"must be in [0, 1), got {cfg.warmup_ratio}")
    if cfg.weight_decay < 0:
        bad("weight_decay", f"must be >= 0, got {cfg.weight_decay}")
    if cfg.precision not in PRECISIONS:
        bad("precision", f"must be one of {', '.join(PRECISIONS)}, got {cfg.precision!r}")
    if cfg.quantization not in QUANTIZATIONS:
        bad("quantization", f"must be one of {', '.join(QUANTIZATIONS)}, "
                            f"got {cfg.quantization!r}")
    if cfg.save_steps <= 0:
        bad("save_steps", f"must be > 0, got {cfg.save_steps}")
    if cfg.eval_steps < 0:
        bad("eval_steps", f"must be >= 0, got {cfg.eval_steps}")
    if not 0 <= cfg.validation_split <= 0.5:
        bad("validation_split", f"must be in [0, 0.5], got {cfg.validation_split}")
    if cfg.early_stopping_patience < 0:
        bad("early_stopping_patience", f"must be >= 0, got {cfg.early_stopping_patience}")
    if cfg.save_total_limit < 0:
        bad("save_total_limit", f"must be >= 0, got {cfg.save_total_limit}")
    if cfg.seed < 0:
        bad("seed", f"must be >= 0, got {cfg.seed}")
    for name, choices in _CHOICES.items():
        if getattr(cfg, name) not in choices:
            bad(name, f"must be one of {', '.join(choices)}, got {getattr(cfg, name)!r}")
    v += _check_method(cfg)
    v += _check_grpo(cfg)
    return _one_per_field(v)


def _check_grpo(cfg: TrainingConfig) -> list[FieldViolation]:
    """GRPO (issue 27): the sampling plan and the declared rewards."""
    v = rewards_mod.check(cfg.rewards)
    if cfg.num_generations < 2:
        v.append(FieldViolation("config.num_generations", f"must be >= 2 (GRPO compares "
                                f"replies to the same prompt), got {cfg.num_generations}"))
    elif cfg.method == "grpo" and (cfg.batch_size * cfg.gradient_accumulation_steps) % cfg.num_generations:
        v.append(FieldViolation("config.num_generations", f"batch_size x "
                                f"gradient_accumulation_steps ({cfg.batch_size} x "
                                f"{cfg.gradient_accumulation_steps}) must be a multiple of "
                                f"num_generations ({cfg.num_generations}): each batch holds "
                                f"whole groups of replies"))
    if cfg.max_completion_length < 1:
        v.append(FieldViolation("config.max_completion_length",
                                f"must be >= 1, got {cfg.max_completion_length}"))
    if cfg.method == "grpo":
        if not cfg.rewards:
            v.append(FieldViolation("config.rewards", "method=grpo needs at least one reward "
                                    '(e.g. [{"kind": "format"}, {"kind": "chrf"}])'))
        if cfg.packing:
            v.append(FieldViolation("config.packing", "packing is for SFT on chats; "
                                    "method=grpo samples replies per prompt"))
    return v


def _check_method(cfg: TrainingConfig) -> list[FieldViolation]:
    """Combinations that cannot work, said before a worker starts."""
    v = []
    if cfg.loraplus_lr_ratio < 0:
        v.append(FieldViolation("config.loraplus_lr_ratio",
                                f"must be >= 0 (0 = off), got {cfg.loraplus_lr_ratio}"))
    if not cfg.preference_beta > 0:
        v.append(FieldViolation("config.preference_beta",
                                f"must be > 0, got {cfg.preference_beta}"))
    for name in ("desirable_weight", "undesirable_weight"):  # KTO (issue 27)
        if not getattr(cfg, name) > 0:
            v.append(FieldViolation(f"config.{name}", f"must be > 0, got {getattr(cfg, name)}"))
    if cfg.method == "kto" and cfg.batch_size < 2:
        v.append(FieldViolation("config.batch_size", "method=kto needs batch_size >= 2: its KL "
                                "term pairs each prompt with another answer of the same batch"))
    if cfg.method in PREFERENCE_METHODS and cfg.packing:
        v.append(FieldViolation("config.packing", f"packing is for SFT on chats; method="
                                f"{cfg.method} scores whole prompt/answer rows"))
    if cfg.method == "full":
        for name in ("use_dora", "use_rslora"):
            if getattr(cfg, name):
                v.append(FieldViolation(f"config.{name}", "is a LoRA option; method=full "
                                        "trains every weight"))
        if cfg.loraplus_lr_ratio:
            v.append(FieldViolation("config.loraplus_lr_ratio", "is a LoRA option; "
                                    "method=full trains every weight"))
        if cfg.quantization != "none":
            v.append(FieldViolation("config.quantization", "a 4-bit model cannot be fully "
                                    "fine-tuned; use method=lora with quantization=nf4"))
    return v


def _over_limits(cfg: TrainingConfig) -> list[FieldViolation]:
    out = []
    for name, limit in LIMITS.items():
        value = getattr(cfg, name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > limit:
            shown = int(limit) if float(limit).is_integer() else limit
            out.append(FieldViolation(f"config.{name}", f"must be <= {shown}, got {value}"))
    return out


def _one_per_field(violations: list[FieldViolation]) -> list[FieldViolation]:
    seen: set[str] = set()
    return [x for x in violations if not (x.field in seen or seen.add(x.field))]  # type: ignore[func-returns-value]


def validate(cfg: TrainingConfig) -> TrainingConfig:
    """Raise ``invalid_fields`` (INVALID_TRAINING_CONFIG) if :func:`check` finds anything."""
    violations = check(cfg)
    if violations:
        raise invalid_fields(violations, reason="INVALID_TRAINING_CONFIG",
                             message="invalid training config")
    return cfg


def from_dict(data: dict[str, Any]) -> TrainingConfig:
    """A config from a (possibly partial) dict of typed or text values; validated."""
    return validate(apply_overrides(TrainingConfig(), data))


def save_config(cfg: TrainingConfig, path: Path, **extra: Any) -> Path:
    """Write the resolved config (plus ``extra`` keys) as JSON, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"config": cfg.to_dict(), **extra}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def load_config_file(path: Path) -> dict[str, Any]:
    """Read a JSON or YAML config file: either flat keys or ``{"config": {...}}``."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text) or {}
    else:
        data = json.loads(text)
    if isinstance(data, dict) and isinstance(data.get("config"), dict):
        data = data["config"]
    if not isinstance(data, dict):
        raise invalid_fields([FieldViolation("config", "config file must hold a mapping")],
                             reason="INVALID_TRAINING_CONFIG")
    return data
