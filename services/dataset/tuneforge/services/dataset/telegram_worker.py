"""Worker: process a Telegram export into a dataset (a ``telegram`` job).

    python -m tuneforge.services.dataset.telegram_worker --spec SPEC.json

Spec: ``{"input": "<result.json or .zip>", "dataset_name": "...", "data_root": "...",
"options": {TelegramOptions fields, "whisper_model", "whisper_language",
"validation_split"}, "job_id": "", "whisper_models_dir": "", "append_to": ""}``.

With ``append_to`` (an existing Telegram dataset) the messages whose ids the dataset already
holds (``telegram_ids`` of its records) are skipped and the new dialogs are added to it, so
a monthly re-export adds only what is new; nothing new is a success that adds nothing.

With scrubbing on, what the scrubber removed (each value, the text before it, the message
before that) is kept as ``pii_probes.jsonl`` (mode 0600) in the dataset's directory: the
trainer's leak audit (audit_worker) prompts the adapter with those contexts.

Events: ``progress`` (phase ``parsing``, step/total = bytes of result.json, message with the
messages read), ``log`` lines, ``result`` ``{"dataset": DatasetInfo, "report":
TelegramReport}``. A stop (SIGTERM) ends the parse early, creates nothing and exits 0.
Errors (bad options, owner not found, name taken, Whisper model missing) → ``error`` event
with the reason, exit 1, nothing written.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tuneforge.runtime import worker_events as ev
from tuneforge.runtime.errors import invalid_argument
from tuneforge.runtime.store import open_store
from tuneforge.services.dataset import dialogs, telegram
from tuneforge.services.dataset.catalog import DatasetCatalog
from tuneforge.services.dataset.scrub import write_probes
from tuneforge.services.dataset.stats import DEFAULT_VALIDATION_SPLIT


def make_transcriber(
    model: str, language: str, models_dir: str | None
) -> dialogs.Transcriber:
    """A faster-whisper transcriber; the model is resolved now (fail early), loaded lazily.

    A language other than English for an English-only model (``*.en``) is refused here:
    the model would transcribe Russian speech as English gibberish, not fail."""
    from tuneforge.audio import whisper

    model = model or "small"
    lang = (language or "").strip().lower()
    if lang and lang not in ("en", "english") and Path(model.rstrip("/\\")).name.lower().endswith(".en"):
        raise invalid_argument(
            "whisper_language", f"Whisper model {model} is English-only and cannot transcribe {language!r}; "
            f"use a multilingual model ({model.rsplit('.', 1)[0] or 'small'}) or leave the language out",
            reason="WHISPER_LANGUAGE_UNSUPPORTED")
    model_dir = whisper.resolve_model(model, models_dir or None)
    loaded: list[Any] = []

    def transcribe(path: Path) -> str:
        if not loaded:
            ev.log(f"loading Whisper model {model_dir}")
            loaded.append(whisper.load_model(model_dir))
        return whisper.transcribe(loaded[0], path, language or None).text

    return transcribe


def known_ids(catalog: DatasetCatalog, name: str) -> frozenset[str]:
    """The message ids the Telegram dataset ``name`` was built from (train and validation)."""
    info = catalog.get(name)
    if info.source != "telegram":
        raise invalid_argument("append_to", f"dataset {name} was made by {info.source}, not from a Telegram export",
                               reason="DATASET_NOT_TELEGRAM")  # fmt: skip
    ids: set[str] = set()
    for path in (info.path, info.validation_path):
        if path and Path(path).is_file():
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        ids.update(dialogs.record_ids(json.loads(line)))
    return frozenset(ids)


def main(spec: dict[str, Any]) -> None:
    append_to = str(spec.get("append_to") or "")
    for key in ("input", "data_root") if append_to else ("input", "dataset_name", "data_root"):
        if not spec.get(key):
            raise invalid_argument(key, "is required")
    raw_opts = dict(spec.get("options") or {})
    opts = dialogs.TelegramOptions.from_dict(raw_opts)
    split = raw_opts.get("validation_split")
    split = DEFAULT_VALIDATION_SPLIT if split is None else float(split)
    root = Path(spec["data_root"])
    catalog = DatasetCatalog(open_store(root), root)
    known: frozenset[str] = frozenset()
    if append_to:
        known = known_ids(catalog, append_to)
        ev.log(f"appending to {append_to}: {len(known)} messages already in it are skipped")
    else:
        catalog.check_free(spec["dataset_name"])
    transcriber = None
    if opts.transcribe_voice:
        transcriber = make_transcriber(
            str(raw_opts.get("whisper_model") or ""), str(raw_opts.get("whisper_language") or ""),
            spec.get("whisper_models_dir"),
        )  # fmt: skip

    last = [0.0]

    def progress(done: int, total: int, messages: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5 or done >= total:
            last[0] = now
            ev.progress(phase="parsing", step=done, total=total,
                        message=f"{messages} messages read")  # fmt: skip

    work = catalog.work_file()
    probes: list[dict[str, str]] = []
    try:
        with telegram.ExportSource(spec["input"]) as source:
            inside = f" ({source.member_name} inside the zip)" if source.member_name else ""
            ev.log(f"reading {source.size} bytes of result.json{inside} from {spec['input']}")
            report = dialogs.process_export(
                source, work, opts, transcriber=transcriber, progress=progress,
                should_stop=ev.stop_requested, known_ids=known, probes=probes, export_id=str(spec.get("job_id") or ""),
                forgotten=catalog.forgotten(append_to) if append_to else frozenset(),
            )  # fmt: skip
        if ev.stop_requested():
            ev.log(
                "stop requested: parsing ended early, no dataset created",
                level="warning",
            )
            return
        if append_to:
            info = _append(catalog, append_to, work, split, report)
        else:
            if report.dialogs == 0:
                raise invalid_argument(
                    "input",
                    f"no dialogs could be built (messages dropped: {dialogs.counts_text(report.messages_dropped)})",
                    reason="TELEGRAM_NO_DIALOGS",
                )
            info = catalog.create(
                spec["dataset_name"], work, source="telegram", format=opts.output_format,
                validation_split=split, report=report.to_dict(), job_id=str(spec.get("job_id") or ""),
            )  # fmt: skip
        if probes:
            write_probes(catalog.dir(info.name), probes)
    finally:
        work.unlink(missing_ok=True)
    ev.log(f"dataset {info.name}: {info.record_count} train + {info.validation_record_count} "
           f"validation dialogs")  # fmt: skip
    ev.result({"dataset": info.to_dict(), "report": report.to_dict()})


def _append(catalog: DatasetCatalog, name: str, work: Path, split: float, report: dialogs.TelegramReport) -> Any:
    if report.dialogs == 0:
        ev.log(f"nothing new: {report.messages_already_in_dataset} messages were already in {name}")
        return catalog.get(name)
    ev.log(f"adding {report.dialogs} dialogs to {name}")
    return catalog.append(name, work, validation_split=split, report=report.to_dict())


if __name__ == "__main__":
    ev.run_main(main)
