"""Dataset statistics (records, messages, tokens, length histogram) and the train/validation split.

Tokens are counted with the base model's fast tokenizer (``tokenizer.json`` of a local
directory or of a hub id already in the Hugging Face cache, read with ``tokenizers``: content
tokens + 4 per message for the chat markup), else **estimated**:
``ceil(characters / 4)`` per message plus 4 tokens of chat markup per message (ChatML's
``<|im_start|>role\\n ... <|im_end|>\\n``), ``ceil(characters / 4)`` for a plain-text record.
Four characters per token is the usual rule of thumb for English BPE; Cyrillic and code
tokenize denser, so treat the estimate as a lower bound there.

Both functions stream the JSONL file; memory stays bounded by the histogram and, for the
split, by the set of held-out line numbers.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import invalid_argument
from tuneforge.services.dataset import preference_formats

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4
DEFAULT_MAX_SEQ_LENGTH = 2048
DEFAULT_VALIDATION_SPLIT = 0.1
DEFAULT_SEED = 42


@dataclass
class Bucket:
    lower: int
    upper: int  # exclusive
    count: int


@dataclass
class DatasetStats:
    record_count: int = 0
    message_count: int = 0
    token_count: int = 0
    token_count_method: str = "estimate"  # or "tokenizer"
    token_histogram: list[Bucket] = field(default_factory=list)
    records_over_max_seq_length: int = 0
    max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH
    max_record_tokens: int = 0
    mean_record_tokens: float = 0.0
    size_bytes: int = 0
    records_by_source: dict[str, int] = field(default_factory=dict)
    messages_by_role: dict[str, int] = field(default_factory=dict)
    preference_pairs: int = 0  # records that are chosen/rejected pairs (DPO / ORPO data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _estimate(record: dict[str, Any]) -> int:
    if "messages" in record:
        return sum(
            math.ceil(len(str(m.get("content") or "")) / CHARS_PER_TOKEN)
            + MESSAGE_OVERHEAD_TOKENS
            for m in record["messages"]
        )
    if "conversations" in record:
        return sum(
            math.ceil(len(str(m.get("value") or "")) / CHARS_PER_TOKEN)
            + MESSAGE_OVERHEAD_TOKENS
            for m in record["conversations"]
        )
    return math.ceil(len(str(record.get("text") or "")) / CHARS_PER_TOKEN)


def find_tokenizer_json(base_model: Path | str) -> Path:
    """``tokenizer.json`` of a local model directory or of a hub id already in the HF cache.

    Raises INVALID_ARGUMENT ``TOKENIZER_NOT_FOUND`` (field ``base_model``). Never downloads.
    """
    value = str(base_model)
    directory = Path(value).expanduser()
    if directory.is_dir():
        if (directory / "tokenizer.json").is_file():
            return directory / "tokenizer.json"
        raise invalid_argument(
            "base_model",
            f"{directory} has no tokenizer.json (a fast tokenizer is needed)",
            reason="TOKENIZER_NOT_FOUND",
        )
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(value, "tokenizer.json")
    except Exception:  # noqa: BLE001 - not a valid repo id, no hub library: not found
        cached = None
    if isinstance(cached, str) and Path(cached).is_file():
        return Path(cached)
    raise invalid_argument(
        "base_model",
        f"{value!r} is neither a local model directory nor in the Hugging Face cache",
        reason="TOKENIZER_NOT_FOUND",
    )


def load_token_counter(base_model: Path | str) -> Callable[[dict[str, Any]], int]:
    """A function counting a record's tokens with the base model's fast tokenizer.

    Uses ``tokenizers`` only (never ``transformers``, which would import torch into the
    service): content tokens plus :data:`MESSAGE_OVERHEAD_TOKENS` of chat markup per message.
    """
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(find_tokenizer_json(base_model)))
    return lambda r: _count_plain(
        r, lambda s: len(tok.encode(s, add_special_tokens=False).ids)
    )


def _count_plain(record: dict[str, Any], encode: Callable[[str], int]) -> int:
    if "messages" in record:
        return sum(
            encode(str(m.get("content") or "")) + MESSAGE_OVERHEAD_TOKENS
            for m in record["messages"]
        )
    if "conversations" in record:
        return sum(
            encode(str(m.get("value") or "")) + MESSAGE_OVERHEAD_TOKENS
            for m in record["conversations"]
        )
    return encode(str(record.get("text") or ""))


def _bucket_of(tokens: int) -> tuple[int, int]:
    if tokens < 64:
        return 0, 64
    upper = 1 << max(6, math.ceil(math.log2(tokens + 1)))
    return upper // 2, upper


def compute_stats(
    paths: list[Path],
    *,
    tokenizer_dir: Path | str | None = None,
    max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH,
    default_source: str = "",
) -> DatasetStats:
    """Stats over one or more normalised JSONL files (e.g. data.jsonl + validation.jsonl)."""
    if max_seq_length <= 0:
        raise invalid_argument("max_seq_length", "must be positive")
    counter = load_token_counter(tokenizer_dir) if tokenizer_dir else _estimate
    stats = DatasetStats(max_seq_length=max_seq_length)
    stats.token_count_method = "tokenizer" if tokenizer_dir else "estimate"
    hist: Counter[tuple[int, int]] = Counter()
    by_source: Counter[str] = Counter()
    by_role: Counter[str] = Counter()
    for path in paths:
        if not path.is_file():
            continue
        stats.size_bytes += path.stat().st_size
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                record = json.loads(line)
                stats.record_count += 1
                if preference_formats.is_preference(record) or preference_formats.is_kto(record):
                    stats.preference_pairs += preference_formats.is_preference(record)
                    record = preference_formats.longest_conversation(record)
                msgs = record.get("messages") or record.get("conversations") or []
                stats.message_count += len(msgs)
                for m in msgs:
                    by_role[str(m.get("role") or m.get("from") or "?")] += 1
                by_source[str(record.get("source") or default_source or "unknown")] += 1
                tokens = counter(record)
                stats.token_count += tokens
                stats.max_record_tokens = max(stats.max_record_tokens, tokens)
                hist[_bucket_of(tokens)] += 1
                if tokens > max_seq_length:
                    stats.records_over_max_seq_length += 1
    stats.token_histogram = [Bucket(lo, hi, n) for (lo, hi), n in sorted(hist.items())]
    stats.records_by_source = dict(by_source)
    stats.messages_by_role = dict(by_role)
    if stats.record_count:
        stats.mean_record_tokens = round(stats.token_count / stats.record_count, 2)
    return stats


def count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        for line in fh:
            n += bool(line.strip())
    return n


def split_jsonl(
    source: Path,
    train_out: Path,
    validation_out: Path,
    fraction: float = DEFAULT_VALIDATION_SPLIT,
    seed: int = DEFAULT_SEED,
) -> tuple[int, int]:
    """Copy ``source`` into train/validation files; return ``(train_count, validation_count)``.

    The held-out records are a seeded random sample of ``round(n * fraction)`` records (at
    least one when ``fraction > 0`` and there are 2+ records, never all of them); order is
    kept. ``fraction`` must be in [0, 0.5]. ``validation_out`` is not written when empty.
    """
    if not 0 <= fraction <= 0.5:
        raise invalid_argument("validation_split", "must be between 0 and 0.5")
    total = count_lines(source)
    n_val = 0
    if fraction > 0 and total >= 2:
        n_val = min(max(1, round(total * fraction)), total - 1)
    held = set(random.Random(seed).sample(range(total), n_val))
    train = val = 0
    with open(source, "rb") as src, open(train_out, "wb") as tr:
        vf = open(validation_out, "wb") if n_val else None  # noqa: SIM115
        try:
            i = 0
            for line in src:
                if not line.strip():
                    continue
                if not line.endswith(b"\n"):
                    line += b"\n"
                if i in held:
                    vf.write(line)  # type: ignore[union-attr]
                    val += 1
                else:
                    tr.write(line)
                    train += 1
                i += 1
        finally:
            if vf:
                vf.close()
    return train, val
