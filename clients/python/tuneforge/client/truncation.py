"""What ``max_seq_length`` does to a set of chat records, in words: the trainer computes it
(``chat_data.encode_records``), the job logs it, and ``train plan`` / ``dataset stats
--base-model`` print the same sentence from the typed ``TruncationReport`` message. Plain
data, so the CLI needs no server part to say it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

REPORTED_INDICES = 50  # TruncationReport.record_indices keeps the first this many


@dataclass
class TruncationReport:
    """What ``max_seq_length`` does to a set of chat records (the proto ``TruncationReport``)."""

    max_seq_length: int
    truncation: str = "truncate"
    records: int = 0
    records_over_limit: int = 0
    record_indices: list[int] = field(default_factory=list)  # the first REPORTED_INDICES
    assistant_tokens_cut: int = 0  # assistant tokens beyond the limit
    turns_cut: int = 0  # assistant turns whose end-of-turn token lies beyond the limit
    records_dropped: int = 0  # under the policy: records that train nothing
    records_added_by_split: int = 0
    assistant_tokens_lost: int = 0  # under the policy: assistant tokens not trained
    turns_without_end_of_turn: int = 0  # trained turns lacking it (0 by construction)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def merged(self, other: "TruncationReport") -> "TruncationReport":
        """Both parts together (train + held-out records of one file): indices stay sorted."""
        out = TruncationReport(self.max_seq_length, self.truncation)
        for name, value in asdict(self).items():
            if isinstance(value, int) and name != "max_seq_length":
                setattr(out, name, value + getattr(other, name))
        out.record_indices = sorted(self.record_indices + other.record_indices)[:REPORTED_INDICES]
        return out

    def summary(self) -> str:
        if not self.records_over_limit:
            return (f"truncation: none of {self.records} records is longer than "
                    f"max_seq_length={self.max_seq_length}")
        more = " ..." if self.records_over_limit > len(self.record_indices) else ""
        done = {"truncate": "keep their start without the cut turns",
                "split_turns": f"are split at turn boundaries (+{self.records_added_by_split} "
                               "records)",
                "drop": "are dropped"}[self.truncation]
        lacking = (f"{self.turns_without_end_of_turn} trained turns lack their end-of-turn token"
                   if self.turns_without_end_of_turn else
                   "no trained turn lacks its end-of-turn token")
        return (f"truncation: {self.records_over_limit} of {self.records} records are longer "
                f"than max_seq_length={self.max_seq_length} (records "
                f"{', '.join(map(str, self.record_indices))}{more}); a cut at the limit would "
                f"remove {self.assistant_tokens_cut} assistant tokens and the end-of-turn token "
                f"of {self.turns_cut} turns; with truncation={self.truncation} they {done}: "
                f"{self.assistant_tokens_lost} assistant tokens are not trained, "
                f"{self.records_dropped} records dropped, {lacking}")


def from_message(report: Any, policy: str) -> TruncationReport:
    """The ``TruncationReport`` message (any proto with its fields) as the data class;
    ``policy`` is the message's enum written as the config spells it (``split_turns``)."""
    values = {f.name: getattr(report, f.name) for f in report.DESCRIPTOR.fields}
    values["record_indices"] = list(report.record_indices)
    values["truncation"] = policy
    return TruncationReport(**values)
