"""The truncation report of a chat dataset before training: ``python -m ... --base-model M
--train-file F --max-seq-length N --truncation P``.

Prints one JSON object, :class:`chat_data.TruncationReport` (records over ``max_seq_length``
and which, assistant tokens and turns a cut removes, what the policy does), computed by the
training job's own encoding (:func:`chat_data.truncation_report`) with the base model's
tokenizer and chat template, so ``train plan`` and ``dataset stats --base-model`` show the
figures the job reports. A record the job would refuse prints ``{"error": {"reason",
"message", "field"}}`` and exits 2. The service runs it as a subprocess (it never imports
torch or transformers): :func:`report_async`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from tuneforge.trainer.v1 import trainer_pb2 as pb

from tuneforge.runtime.errors import Code, FieldViolation, TuneforgeError, failed_precondition
from tuneforge.runtime.job_rpcs import to_message

TIMEOUT_SECONDS = 300.0
CACHE_ENTRIES = 64
_CACHE: dict[tuple, bytes] = {}  # (python, model, file, size, mtime, limit, policy) -> report


def compute(base_model: str, train_file: Path, max_seq_length: int, truncation: str) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoTokenizer

    from tuneforge.services.trainer import chat_data

    try:
        tokenizer = AutoTokenizer.from_pretrained(base_model)
    except OSError as exc:
        raise TuneforgeError(Code.INVALID_ARGUMENT, "BASE_MODEL_NOT_AVAILABLE",
                             f"cannot load the tokenizer of {base_model!r} offline: {exc}"
                             .splitlines()[0], [FieldViolation("base_model", "not available")])
    records = chat_data.load_records(train_file, "train")
    return chat_data.truncation_report(tokenizer, records, max_seq_length, truncation).to_dict()


def command(python: str, base_model: str, train_file: str, max_seq_length: int,
            truncation: str) -> list[str]:
    return [python or sys.executable, "-m", "tuneforge.services.trainer.truncation_check",
            "--base-model", base_model, "--train-file", train_file,
            "--max-seq-length", str(max_seq_length), "--truncation", truncation]


async def report_async(python: str, base_model: str, train_file: str, max_seq_length: int,
                       truncation: str) -> pb.TruncationReport:
    """The report from a subprocess (killed on timeout or cancellation); the job's error for a
    dataset or template it would refuse. Cached per file (and its size and mtime), model
    and settings: a dataset version does not change, and a plan with a short deadline (one
    that times a warm-up) should not spend it counting again."""
    key = (python, base_model, *_stamp(train_file), max_seq_length, truncation)
    if key not in _CACHE:
        report = await _run(python, base_model, train_file, max_seq_length, truncation)
        while len(_CACHE) >= CACHE_ENTRIES:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = report.SerializeToString()
    return pb.TruncationReport.FromString(_CACHE[key])


def _stamp(path: str) -> tuple[str, int, int]:
    try:
        st = os.stat(path)
        return path, st.st_size, st.st_mtime_ns
    except OSError:
        return path, -1, -1


async def _run(python: str, base_model: str, train_file: str, max_seq_length: int,
               truncation: str) -> pb.TruncationReport:
    proc = await asyncio.create_subprocess_exec(
        *command(python, base_model, train_file, max_seq_length, truncation),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
             "CUDA_VISIBLE_DEVICES": "", "TOKENIZERS_PARALLELISM": "false"})
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_SECONDS)
    except asyncio.TimeoutError:
        raise failed_precondition("TRUNCATION_CHECK_FAILED",
                                  "counting the dataset's tokens timed out") from None
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return parse_output(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def parse_output(returncode: int | None, stdout: str, stderr: str) -> pb.TruncationReport:
    last = next((line for line in reversed(stdout.splitlines()) if line.startswith("{")), "")
    try:
        data: dict[str, Any] = json.loads(last) if last else {}
    except ValueError:
        data = {}
    if "error" in data:
        e = data["error"]
        raise TuneforgeError(Code.INVALID_ARGUMENT, e.get("reason") or "INVALID_TRAINING_RECORD",
                             e.get("message", ""),
                             [FieldViolation(e.get("field") or "dataset",
                                             e.get("description") or e.get("message", ""))])
    if returncode != 0 or not data:
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        raise failed_precondition("TRUNCATION_CHECK_FAILED",
                                  f"counting the dataset's tokens failed: {tail}")
    return to_message(data, pb.TruncationReport)  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-model", required=True)
    parser.add_argument("--train-file", required=True, type=Path)
    parser.add_argument("--max-seq-length", required=True, type=int)
    parser.add_argument("--truncation", default="truncate")
    args = parser.parse_args(argv)
    try:
        report = compute(args.base_model, args.train_file, args.max_seq_length, args.truncation)
    except TuneforgeError as exc:
        first = exc.violations[0] if exc.violations else FieldViolation("dataset", exc.message)
        print(json.dumps({"error": {"reason": exc.reason, "message": exc.message,
                                    "field": first.field, "description": first.description}}))
        return 2
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
