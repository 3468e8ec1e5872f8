"""Transcription worker: faster-whisper over the voice samples.

    python -m tuneforge.services.tts.transcribe_worker --spec SPEC.json

Spec (build it with :func:`tuneforge.services.tts.specs.transcribe_spec`)::

    {"data_root": "/abs/var", "whisper_model": "small" | "/abs/ct2-dir",
     "language": "ru" | "auto", "min_duration_sec": 1.0, "max_duration_sec": 30.0,
     "vad": false, "sample_names": ["a.wav", ...], "overwrite": false,
     "models_dir": null, "device": "auto", "compute_type": "default", "beam_size": 5}

``sample_names`` empty means every sample without a transcript (every sample with
``overwrite``). Each transcript is written to the sample catalog (``state.db``) as soon as
it is ready, with ``transcript_source = "whisper"``, so a stopped job keeps what it did;
the ``result`` event repeats them. Samples outside [min, max] seconds, missing ones,
undecodable ones and ones where Whisper hears no speech are skipped with a reason.

Events: ``progress`` (phase "transcribing", step/total, message = sample name) per sample,
``log`` lines, ``result`` ``{"model": dir, "transcribed": [{"name", "text", "language",
"duration_seconds"}], "skipped": [{"name", "reason", "detail"}], "stopped": bool}``.
Exit 0 (also after SIGTERM, between samples), 1 with an ``error`` event otherwise
(``WHISPER_MODEL_UNAVAILABLE``, ``INVALID_WHISPER_MODEL``, ...).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tuneforge.runtime import worker_events as ev
from tuneforge.runtime.errors import TuneforgeError, invalid_argument


def main(spec: dict[str, Any]) -> None:
    from tuneforge.audio.whisper import load_model, resolve_model, transcribe
    from tuneforge.runtime.store import open_store
    from tuneforge.services.tts.samples import SampleCatalog

    data_root = Path(spec["data_root"])
    language = (spec.get("language") or "auto").strip().lower()
    _check_language(language)
    lo = float(spec.get("min_duration_sec", 1.0))
    hi = float(spec.get("max_duration_sec", 30.0))
    overwrite = bool(spec.get("overwrite", False))

    catalog = SampleCatalog(open_store(data_root), data_root)
    wanted = list(spec.get("sample_names") or [])
    skipped: list[dict[str, Any]] = []
    if wanted:
        samples = []
        for name in wanted:
            try:
                samples.append(catalog.get(name))
            except TuneforgeError as exc:
                skipped.append({"name": name, "reason": exc.reason, "detail": str(exc)})
    else:
        samples = [s for s in catalog.all() if overwrite or not s.transcript]

    model_dir = resolve_model(spec.get("whisper_model") or "small", spec.get("models_dir"))
    ev.log(f"loading Whisper model from {model_dir}")
    model = load_model(model_dir, spec.get("device", "auto"), spec.get("compute_type", "default"))

    done: list[dict[str, Any]] = []
    total = len(samples)
    started = time.monotonic()
    stopped = False
    for i, sample in enumerate(samples):
        if ev.stop_requested():
            stopped = True
            ev.log("stop requested: finishing after the samples already transcribed")
            break
        ev.progress(phase="transcribing", step=i, total=total, message=sample.name,
                    eta_seconds=_eta(started, i, total))  # fmt: skip
        if sample.transcript and not overwrite:
            skipped.append({"name": sample.name, "reason": "HAS_TRANSCRIPT",
                            "detail": "already transcribed (use overwrite)"})  # fmt: skip
            continue
        if sample.duration_seconds < lo or sample.duration_seconds > hi:
            reason = "TOO_SHORT" if sample.duration_seconds < lo else "TOO_LONG"
            skipped.append({"name": sample.name, "reason": reason,
                            "detail": f"{sample.duration_seconds:.2f} s is outside [{lo}, {hi}] s"})  # fmt: skip
            continue
        for warning in sample.warnings:  # e.g. one speaker per channel: Whisper hears both at once
            ev.log(f"{sample.name}: {warning}", level="warning")
        try:
            result = transcribe(model, sample.path, None if language == "auto" else language,
                                vad=bool(spec.get("vad", False)),
                                beam_size=int(spec.get("beam_size", 5)))  # fmt: skip
        except TuneforgeError as exc:
            skipped.append({"name": sample.name, "reason": exc.reason, "detail": str(exc)})
            continue
        if not result.text:
            skipped.append({"name": sample.name, "reason": "NO_SPEECH",
                            "detail": "Whisper produced no text"})  # fmt: skip
            continue
        catalog.set_transcript(sample.name, result.text, source="whisper", language=result.language)
        done.append({"name": sample.name, "text": result.text, "language": result.language,
                     "duration_seconds": result.duration_seconds})  # fmt: skip
        ev.log(f"{sample.name}: [{result.language}] {result.text[:120]}")
    ev.progress(phase="transcribing", step=len(done) + len(skipped), total=total)
    for skip in skipped:  # in the job's log too, not only in the result a --json client reads
        ev.log(f"skipped {skip['name']}: {skip['reason']} ({skip['detail']})", level="warning")
    ev.log(f"{len(done)} transcribed, {len(skipped)} skipped")
    ev.result({"model": str(model_dir), "transcribed": done, "skipped": skipped, "stopped": stopped})


def _eta(started: float, done: int, total: int) -> float | None:
    if done == 0:
        return None
    return (time.monotonic() - started) / done * (total - done)


def _check_language(language: str) -> None:
    if language == "auto":
        return
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    if language not in _LANGUAGE_CODES:
        raise invalid_argument(
            "language", f"{language!r} is not a Whisper language code (e.g. en, ru, de) or 'auto'"
        )


if __name__ == "__main__":
    ev.run_main(main)
