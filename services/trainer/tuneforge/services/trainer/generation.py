"""Replies from the base model or an adapter, token by token — shared by the eval and chat workers.

Runs in a worker (it imports torch). One model is loaded: the base, with the adapter on top
as a ``PeftModel`` when one is given; :func:`generate` with ``use_adapter=False`` answers
through ``disable_adapter()``, so base and adapter replies come from the very same weights.

Prompts are rendered by :func:`chat_data.render_prompt`, exactly as training rendered them
(reasoning templates get their empty think block). A reply stops at the template's end-of-turn
token or the model's eos (``stopped``), at ``max_new_tokens``, at the deadline, or on a stop
request. Greedy unless ``temperature`` > 0; seeded either way, so the same request gives the
same reply.

Between tokens a stopping criterion checks the stop request and the deadline. Loading the
model, rendering a long conversation's template and the first forward pass over its prompt
have no such place: a worker runs them inside :func:`halting`, where a stop (SIGTERM) or the
deadline (SIGALRM) raises :class:`Halted` at the next Python line, and :func:`generate` turns a
halt into the reply so far.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import invalid_argument
from tuneforge.services.trainer import chat_data


@dataclass
class Generated:
    text: str
    tokens: int
    stopped: bool  # ended with the end-of-turn token by itself
    finish_reason: str  # stop | length | deadline | cancelled


class Halted(BaseException):
    """A stop request (``cancelled``) or the deadline (``deadline``), raised where the worker
    is; a BaseException so that no ``except Exception`` on the way swallows it."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


@contextlib.contextmanager
def halting(deadline: float | None, should_stop: Callable[[], bool] | None = None,
            on_stop: Callable[[], None] | None = None) -> Iterator[None]:
    """Inside: SIGTERM/SIGINT (``on_stop`` is told) and the ``deadline`` raise :class:`Halted`,
    again every quarter second until it lands (a handler may run inside a ``__del__`` or a
    callback, where an exception is swallowed), and whatever exception leaves after a halt is
    the halt (an import or a class body may have wrapped it). The main thread only (signal
    handlers); the previous handlers are back on the way out."""
    why: list[str] = []

    def halt(reason: str) -> None:
        why.append(reason)
        signal.setitimer(signal.ITIMER_REAL, 0.25, 0.25)
        raise Halted(why[0])

    def stop(signum: int, frame: Any) -> None:  # noqa: ARG001
        if on_stop:
            on_stop()
        halt("cancelled")

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, lambda signum, frame: halt("deadline"))
    try:
        if should_stop and should_stop():
            raise Halted("cancelled")
        if deadline:
            left = float(deadline) - time.time()
            if left <= 0:
                raise Halted("deadline")
            signal.setitimer(signal.ITIMER_REAL, left)
        yield
    except BaseException as exc:
        if why and not isinstance(exc, Halted):  # the code it interrupted wrapped it (an import, a __set_name__)
            raise Halted(why[0]) from exc
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def load(base_model: str, adapter_dir: str | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) on the GPU when there is one; the adapter's tokenizer if it saved one."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cuda = torch.cuda.is_available()
    adapter = Path(adapter_dir) if adapter_dir else None
    if adapter is not None and not (adapter / "adapter_config.json").is_file():
        raise invalid_argument("adapter", f"{adapter} holds no adapter_config.json",
                               reason="ADAPTER_NOT_FOUND")
    tok_source = adapter if adapter is not None and (adapter / "tokenizer_config.json").is_file() \
        else base_model
    try:
        tokenizer = AutoTokenizer.from_pretrained(tok_source)
        model = AutoModelForCausalLM.from_pretrained(
            base_model, dtype=torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else "auto")
    except OSError as exc:
        raise invalid_argument("base_model", f"cannot load {base_model!r} offline: {exc}",
                               reason="BASE_MODEL_NOT_AVAILABLE") from None
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    if cuda:
        model = model.to("cuda")
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def context_length(model: Any) -> int | None:
    """The most positions the model reads (its config's ``max_position_embeddings``), or None."""
    config = getattr(model, "config", None)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    value = getattr(text, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) and value > 0 else None


def stop_ids(model: Any, tokenizer: Any) -> list[int]:
    """The end-of-turn token and every eos id the model's generation config names."""
    ids = set(chat_data.end_of_turn_ids(tokenizer))
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids |= set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    return sorted(i for i in ids if i is not None)


class _Streamer:
    """A transformers streamer: decodes new tokens to text pieces (whole characters only)."""

    def __init__(self, tokenizer: Any, stops: set[int], on_piece: Callable[[str], None] | None):
        self.tokenizer, self.stops, self.on_piece = tokenizer, stops, on_piece
        self.ids: list[int] = []
        self.sent = ""
        self.prompt_seen = False
        self.stopped = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # generate() first hands over the prompt
            self.prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            if token in self.stops:
                self.stopped = True
                continue
            self.ids.append(int(token))
        self._flush(final=False)

    def end(self) -> None:
        self._flush(final=True)

    def _flush(self, final: bool) -> None:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd") and not final:
            return  # half a character so far
        piece, self.sent = text[len(self.sent):], text
        if piece and self.on_piece:
            self.on_piece(piece)


class _Halt:
    """Stops generation at the deadline or on a stop request (StoppingCriteria protocol)."""

    def __init__(self, deadline: float | None, should_stop: Callable[[], bool] | None):
        self.deadline, self.should_stop, self.why = deadline, should_stop, ""

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
        if self.should_stop and self.should_stop():
            self.why = "cancelled"
        elif self.deadline and time.time() >= self.deadline:
            self.why = "deadline"
        return bool(self.why)


def generate(model: Any, tokenizer: Any, messages: list[dict], *, max_new_tokens: int = 128,
             seed: int = 0, temperature: float = 0.0, top_p: float = 1.0,
             use_adapter: bool = True, on_piece: Callable[[str], None] | None = None,
             deadline: float | None = None,
             should_stop: Callable[[], bool] | None = None, prefix: str = "") -> Generated:
    """One reply to ``messages`` (which end with a user turn); pieces go to ``on_piece``. A
    :class:`Halted` while generating ends the reply where it is. ``prefix``: the reply starts
    with this text (the leak audit's probes); only what follows it is returned."""
    import torch
    from transformers import StoppingCriteriaList, set_seed

    set_seed(seed)
    ids = chat_data.render_prompt(tokenizer, messages)
    if prefix:
        ids += tokenizer(prefix, add_special_tokens=False)["input_ids"]
    prompt = torch.tensor([ids], device=model.device)
    stops = stop_ids(model, tokenizer)
    streamer = _Streamer(tokenizer, set(stops), on_piece)
    halt = _Halt(deadline, should_stop)
    sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} \
        if temperature > 0 else {"do_sample": False, "temperature": None, "top_p": None,
                                 "top_k": None}
    off = model.disable_adapter() if (not use_adapter and hasattr(model, "disable_adapter")) \
        else contextlib.nullcontext()
    try:
        with off, torch.no_grad():
            out = model.generate(prompt, attention_mask=torch.ones_like(prompt),
                                 max_new_tokens=max_new_tokens, eos_token_id=stops,
                                 pad_token_id=tokenizer.pad_token_id, streamer=streamer,
                                 stopping_criteria=StoppingCriteriaList([halt]), **sampling)
    except Halted as why:
        return Generated(text=streamer.sent, tokens=len(streamer.ids), stopped=False, finish_reason=why.why)
    new = out[0, prompt.shape[1]:].tolist()
    finish = "stop" if streamer.stopped else halt.why or "length"
    return Generated(text=streamer.sent, tokens=len(new), stopped=streamer.stopped,
                     finish_reason=finish)


def assistant_loss(model: Any, tokenizer: Any, records: list, max_seq_length: int,
                   use_adapter: bool = True) -> float:
    """Mean cross-entropy per trained (assistant) token over ``records``, labels masked by the
    training job's own code (chat_data.encode_records)."""
    import torch

    enc = chat_data.encode_records(tokenizer, records, max_seq_length, "validation")
    off = model.disable_adapter() if (not use_adapter and hasattr(model, "disable_adapter")) \
        else contextlib.nullcontext()
    total, count = 0.0, 0
    with off, torch.no_grad():
        for ids, labels in zip(enc.input_ids, enc.labels):
            x = torch.tensor([ids], device=model.device)
            y = torch.tensor([labels], device=model.device)
            n = int((y[:, 1:] != -100).sum())
            if n == 0:
                continue
            loss = model(input_ids=x, labels=y).loss
            total += float(loss) * n
            count += n
    return total / count if count else float("nan")
