"""Pre-flight estimate of a training job's peak memory, from the base model's config alone.

Why: a job that cannot fit fails minutes later with an out-of-memory error, after the model
was loaded and the data tokenized — or, worse, takes the GPU away from vLLM first. The service
process never imports torch, so the estimate is arithmetic on ``config.json`` (hidden size,
layers, heads, vocabulary) and the training settings, the way the usual calculators (HF's
``accelerate estimate-memory``, the Korthikanti et al. activation count) do it:

* weights: every parameter in the load dtype; with nf4 the decoder's linear layers take
  ~0.53 byte/param (4 bits + double-quantised scales) and the rest is upcast to fp32 by
  ``prepare_model_for_kbit_training``;
* trainable state: LoRA (and DoRA's magnitude vectors) in fp32 — weight, gradient and two
  AdamW moments, 16 bytes/param; full fine-tuning keeps fp32 master weights, the same 16;
* activations kept for the backward pass per token and layer (≈ 14·hidden + 5·intermediate
  values, plus each LoRA input behind dropout); with gradient checkpointing only each layer's
  input is kept, plus one layer's worth during recomputation; eager attention adds heads·seq;
* the logits: batch × seq × vocab in the compute dtype, upcast to fp32 for the loss, its
  log-softmax and gradient (this dominates small models with large vocabularies);
* a fixed runtime: the CUDA context and allocator slack on a GPU, the imported libraries on a
  CPU (measured: torch + transformers + trl + peft + datasets ≈ 0.55 GB RSS).

DPO and ORPO score the chosen and rejected reply together (twice the rows); DPO also runs the
reference model (the base with the adapter disabled: no extra weights, one more forward pass
without gradients). The figure is compared against measured peaks in
tests/trainer/test_memory_estimate.py (CPU RSS) and bench/gpu_bench.py (GPU).
Transport-free and torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

GIB = 1024**3
MIB = 1024**2
CPU_RUNTIME_BYTES = 600 * MIB  # imported libraries + tokenizer + data, measured RSS
GPU_RUNTIME_BYTES = 700 * MIB  # CUDA context, cuBLAS workspace, allocator fragmentation
NF4_BYTES_PER_PARAM = 0.53
ADAM_STATE_BYTES = 16  # fp32 weight + gradient + exp_avg + exp_avg_sq
LINEAR_NAMES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
PREFERENCE_METHODS = ("dpo", "orpo", "kto")  # two rows per example (kto: its KL row)


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a decoder-only transformer (Llama / Qwen2 / Mistral layout)."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied_embeddings: bool

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ModelShape":
        """From a ``config.json`` dict; ValueError naming the missing key if it is not one."""
        cfg = config.get("text_config") or config
        try:
            hidden = int(cfg["hidden_size"])
            heads = int(cfg["num_attention_heads"])
            return cls(
                hidden=hidden, layers=int(cfg["num_hidden_layers"]), heads=heads,
                kv_heads=int(cfg.get("num_key_value_heads") or heads),
                head_dim=int(cfg.get("head_dim") or hidden // heads),
                intermediate=int(cfg["intermediate_size"]), vocab=int(cfg["vocab_size"]),
                tied_embeddings=bool(cfg.get("tie_word_embeddings", False)))
        except KeyError as exc:
            raise ValueError(f"config.json has no {exc.args[0]!r}: not a decoder-only LM "
                             f"config this estimate knows") from None

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in_features, out_features) of each linear layer of one decoder layer."""
        q, kv, h, i = self.heads * self.head_dim, self.kv_heads * self.head_dim, self.hidden, \
            self.intermediate
        return {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}

    def linear_parameters(self) -> int:
        per_layer = sum(a * b for a, b in self.linear_shapes().values())
        return per_layer * self.layers

    def other_parameters(self) -> int:
        """Embeddings, LM head (unless tied), norms and attention biases."""
        embed = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        norms = self.layers * 2 * self.hidden + self.hidden
        biases = self.layers * (self.heads + 2 * self.kv_heads) * self.head_dim
        return embed + norms + biases

    def parameters(self) -> int:
        return self.linear_parameters() + self.other_parameters()


@dataclass(frozen=True)
class PlanSettings:
    """The training settings that decide memory (a subset of TrainingConfig, resolved)."""

    method: str = "lora"  # lora | full | dpo | orpo | kto
    quantization: str = "none"  # none | nf4
    precision: str = "fp32"  # fp32 | bf16 | fp16 (resolved, not auto)
    lora_rank: int = 8
    target_modules: list[str] | str = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj"])
    lora_dropout: float = 0.05
    use_dora: bool = False
    batch_size: int = 1
    seq_len: int = 768  # the longest record after truncation (max_seq_length when packing)
    gradient_checkpointing: bool = True
    attn_implementation: str = "sdpa"
    device: str = "cpu"  # cpu | cuda


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    trainable_parameters: int
    trainable_state: int
    activations: int
    logits: int
    runtime: int

    @property
    def total(self) -> int:
        return (self.weights + self.trainable_state + self.activations + self.logits
                + self.runtime)

    def parts(self) -> dict[str, int]:
        return {"weights": self.weights, "trainable_state": self.trainable_state,
                "activations": self.activations, "logits": self.logits,
                "runtime": self.runtime, "total": self.total}


def _targets(shape: ModelShape, target_modules: list[str] | str) -> list[str]:
    if target_modules == "all-linear":
        return list(LINEAR_NAMES)
    return [m.rsplit(".", 1)[-1] for m in target_modules if m.rsplit(".", 1)[-1] in LINEAR_NAMES]


def _dtype_bytes(precision: str) -> int:
    return 2 if precision in ("bf16", "fp16") else 4


def weight_bytes(shape: ModelShape, s: PlanSettings) -> int:
    if s.method == "full":
        return 0  # counted in the trainable state (fp32 master weights)
    if s.quantization == "nf4":
        return int(shape.linear_parameters() * NF4_BYTES_PER_PARAM + shape.other_parameters() * 4)
    return shape.parameters() * _dtype_bytes(s.precision)


def trainable_parameters(shape: ModelShape, s: PlanSettings) -> int:
    if s.method == "full":
        return shape.parameters()
    linear = shape.linear_shapes()
    per_layer = 0
    for name in _targets(shape, s.target_modules):
        fan_in, fan_out = linear[name]
        per_layer += s.lora_rank * (fan_in + fan_out) + (fan_out if s.use_dora else 0)
    return per_layer * shape.layers


def activation_bytes(shape: ModelShape, s: PlanSettings, rows: int) -> int:
    """Values kept for the backward pass (see the module docstring)."""
    act = _dtype_bytes(s.precision)
    tokens = rows * s.seq_len
    per_token_layer = 14 * shape.hidden + 5 * shape.intermediate
    if s.method != "full" and s.lora_dropout > 0:
        linear = shape.linear_shapes()
        per_token_layer += sum(linear[n][0] for n in _targets(shape, s.target_modules))
    quadratic = s.attn_implementation == "eager" or s.device != "cuda"
    attention = rows * shape.heads * s.seq_len * s.seq_len * act * 2 if quadratic else 0
    one_layer = tokens * per_token_layer * act + attention
    if s.gradient_checkpointing:  # inputs of every layer + one layer recomputed and its grads
        return tokens * shape.hidden * act * shape.layers + 2 * one_layer
    return one_layer * shape.layers


def logits_bytes(shape: ModelShape, s: PlanSettings, rows: int) -> int:
    """Logits in the compute dtype, their fp32 upcast, log-softmax and gradient."""
    return rows * s.seq_len * shape.vocab * (_dtype_bytes(s.precision) + 12)


def estimate(shape: ModelShape, s: PlanSettings) -> MemoryEstimate:
    """Peak memory of one training process for ``s`` on a model of ``shape``."""
    rows = s.batch_size * (2 if s.method in PREFERENCE_METHODS else 1)
    trainable = trainable_parameters(shape, s)
    return MemoryEstimate(
        weights=weight_bytes(shape, s), trainable_parameters=trainable,
        trainable_state=trainable * ADAM_STATE_BYTES,
        activations=activation_bytes(shape, s, rows), logits=logits_bytes(shape, s, rows),
        runtime=GPU_RUNTIME_BYTES if s.device == "cuda" else CPU_RUNTIME_BYTES)


def advice(shape: ModelShape, s: PlanSettings, available: int) -> list[str]:
    """What to change, most effective first, each as the ``--set`` that does it."""
    out: list[str] = []
    if s.method == "full":
        out.append("train an adapter instead of the whole model: --set method=lora")
    elif s.quantization != "nf4":
        out.append("load the base model in 4 bits (QLoRA): --set quantization=nf4")
    if not s.gradient_checkpointing:
        out.append("--set gradient_checkpointing=true")
    if s.batch_size > 1:
        out.append("--set batch_size=1 (and raise gradient_accumulation_steps to keep the "
                   "effective batch)")
    fixed = estimate(shape, replace(s, seq_len=1))
    per_token = max(1, estimate(shape, s).total - fixed.total) / max(1, s.seq_len - 1)
    room = available - fixed.total
    if room > 0 and room / per_token < s.seq_len:
        fits = max(16, int(room / per_token) // 16 * 16)
        out.append(f"a shorter context: --set max_seq_length={fits}")
    if s.device == "cuda":
        out.append("a GPU with more free memory (--gpu / gpu_devices), or free this one")
    return out


def fmt_bytes(n: int | float) -> str:
    if n >= GIB:
        return f"{n / GIB:.2f} GiB"
    return f"{n / MIB:.0f} MiB"
