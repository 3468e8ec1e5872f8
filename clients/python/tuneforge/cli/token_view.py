"""``tuneforge dataset preview NAME --tokens``: what training sees of a record.

Each record is tokenized and masked by the training job's own code
(``services/trainer/chat_data.py``: the base model's tokenizer and chat template, the same
end-of-turn check) here in the CLI, with the base model's tokenizer — a local directory or a
hub id already in the Hugging Face cache (nothing is downloaded). Trained tokens (the labels)
are marked: in a terminal, green on alternating shades so token boundaries show, the rest
dimmed; otherwise each trained token in ``[brackets]``. Needs the trainer's package
(``tuneforge-trainer``, with ``transformers``) beside the client: imported only here, when
``--tokens`` asks, so the client alone installs and runs every other command.
"""

from __future__ import annotations

from typing import Any

_ON = ("\x1b[30;42m", "\x1b[30;102m")  # alternate shades: token boundaries stay visible
_OFF, _RESET = "\x1b[2m", "\x1b[0m"


def _visible(text: str) -> str:
    return text.replace("\n", "↵\n")


def render_sample(pieces: list[tuple[str, bool]], colour: bool) -> str:
    out, shade = [], 0
    for text, trained in pieces:
        if colour:
            style = _ON[shade] if trained else _OFF
            shade ^= int(trained)
            out.append("\n".join(f"{style}{part}{_RESET}" if part else ""
                                 for part in _visible(text).split("\n")))
        else:
            out.append(f"[{_visible(text)}]" if trained else _visible(text))
    return "".join(out)


def summary(pieces: list[tuple[str, bool]]) -> dict[str, Any]:
    trained = sum(1 for _, on in pieces if on)
    return {"tokens": len(pieces), "trained_tokens": trained,
            "trained_percent": round(100.0 * trained / len(pieces), 1) if pieces else 0.0}


def token_views(records: list[dict], base_model: str, max_seq_length: int) -> list[dict]:
    """Per record: its samples as (text, trained) pieces, or the training job's error."""
    try:
        from transformers import AutoTokenizer

        from tuneforge.runtime.errors import TuneforgeError
        from tuneforge.services.trainer import chat_data
    except ImportError:
        raise SystemExit("--tokens tokenizes with the trainer's own code and transformers, which "
                         "are not installed here: pip install tuneforge-trainer (or tuneforge)") from None

    try:
        tokenizer = AutoTokenizer.from_pretrained(base_model)
    except OSError as exc:
        raise SystemExit(f"cannot load the tokenizer of {base_model!r} offline: {exc}") from None
    views = []
    for index, record in enumerate(records):
        try:
            messages = chat_data.record_messages(record, "preview", index)
            samples = chat_data.trained_tokens(tokenizer, messages, max_seq_length)
            views.append({"index": index, "samples": samples})
        except TuneforgeError as exc:
            views.append({"index": index, "error": f"{exc.reason}: {exc}"})
    return views
