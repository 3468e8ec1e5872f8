"""The best checkpoint instead of the last, and the honest mean loss of a (resumed) run.

Transport-free and torch-free: the worker hands in the Trainer's ``state.log_history``.

Best checkpoint: with held-out data and ``best_checkpoint_metric = eval_loss`` every saved
checkpoint is evaluated (eval loss on the assistant tokens, the same masked loss as training;
the callback asks for an evaluation at every save, so the last step is evaluated too), and
transformers' ``load_best_model_at_end`` puts the lowest-loss checkpoint's weights back into
the model before ``final/`` is written: the registered adapter *is* that checkpoint. With
``save_total_limit`` transformers' rotation keeps the best checkpoint and the newest one
(``Trainer._sorted_checkpoints`` moves the best to the end of the deletion order;
``_rotate_checkpoints`` keeps two when the limit is 1), so the last checkpoint stays
downloadable; a limit of 1 is passed on as 2, because after loading the best transformers
deletes every other checkpoint when the limit is 1, the last included. The style score is not used to choose: it needs generated samples from every
checkpoint (a generation pass per save), which costs more than the training steps between
saves on the hardware this runs on; eval_loss needs one forward pass over the held-out set.

Honest loss: the Trainer's own ``train_loss`` divides the loss summed *in this process* by
``global_step``, which after a resume includes the steps of the earlier run — a resumed job
under-reports (4.520 where the steps averaged 5.786). :func:`mean_step_loss` averages the logged
step losses from ``log_history`` instead, which a resume restores from the checkpoint's
``trainer_state.json``: the mean covers every step of the plan so far, the resumed job's and
the original's, each logging interval weighted by the steps it spans.
"""

from __future__ import annotations

import math
from typing import Any

EVAL_LOSS, LAST = "eval_loss", "last"


def chooses_best(metric: str, evaluating: bool) -> bool:
    return evaluating and metric == EVAL_LOSS


def trainer_args(metric: str, evaluating: bool, save_steps: int, eval_steps: int,
                 save_total_limit: int) -> dict[str, Any]:
    """TrainingArguments for the choice: evaluation at (a divisor of) every save, the best
    by eval_loss loaded at the end, and the rotation limit (0 = keep all)."""
    args: dict[str, Any] = {"save_total_limit": save_total_limit or None}
    if not chooses_best(metric, evaluating):
        return args
    every = eval_steps if eval_steps and save_steps % eval_steps == 0 else save_steps
    if save_total_limit == 1:  # transformers deletes the last one after training at limit 1
        args["save_total_limit"] = 2  # (Trainer._inner_training_loop); it stays downloadable
    return {**args, "eval_strategy": "steps", "eval_steps": every, "load_best_model_at_end": True,
            "metric_for_best_model": "eval_loss", "greater_is_better": False}


def _eval_losses(log_history: list[dict[str, Any]]) -> dict[int, float]:
    out = {}
    for entry in log_history:
        value = entry.get("eval_loss")
        if isinstance(value, (int, float)) and math.isfinite(value):
            out[int(entry.get("step", 0))] = float(value)
    return out


def choose(metric: str, log_history: list[dict[str, Any]], best_checkpoint: str | None,
           last_step: int, last_checkpoint: str | None, checkpoint_steps: list[int]) -> dict[str, Any]:
    """The BestCheckpoint record (trainer.proto) of a finished run.

    ``best_checkpoint`` is the Trainer's ``state.best_model_checkpoint`` (what
    ``load_best_model_at_end`` loaded); None when nothing was evaluated or metric is last.
    """
    losses = _eval_losses(log_history)
    evaluated = sorted(s for s in checkpoint_steps if s in losses)
    record: dict[str, Any] = {"metric": metric, "last_step": last_step,
                              "last_checkpoint": last_checkpoint or "", "evaluated": len(evaluated)}
    if metric == EVAL_LOSS and best_checkpoint:
        step = int(str(best_checkpoint).rstrip("/").rsplit("-", 1)[-1])
        value = losses.get(step)
        last = losses.get(last_step)
        why = (f"registered the checkpoint at step {step}: eval_loss {value:.4f}, the lowest of "
               f"{len(evaluated)} evaluated checkpoints" if value is not None else
               f"registered the checkpoint at step {step}, the best by eval_loss")
        if step != last_step and last is not None:
            why += f"; the last (step {last_step}) had {last:.4f} and stays at {last_checkpoint}"
        return {**record, "step": step, "path": str(best_checkpoint), "value": value, "reason": why}
    why = ("registered the last step: best_checkpoint_metric = last" if metric == LAST else
           "registered the last step: no held-out data to choose a checkpoint by eval_loss")
    return {**record, "step": last_step, "path": last_checkpoint or "",
            "value": losses.get(last_step), "reason": f"{why} (step {last_step})"}


def mean_step_loss(log_history: list[dict[str, Any]]) -> tuple[float | None, int]:
    """(mean training loss per optimizer step, steps covered) from the logged step losses.

    Each ``loss`` entry is the mean over the steps since the previous one (logging_steps), so
    it weighs as many steps as it spans. Entries are taken by step once (a resume restores the
    original run's entries up to the checkpoint and then appends its own).
    """
    by_step: dict[int, float] = {}
    for entry in log_history:
        value = entry.get("loss")
        if "step" in entry and isinstance(value, (int, float)) and math.isfinite(value):
            by_step[int(entry["step"])] = float(value)
    total, steps, previous = 0.0, 0, 0
    for step in sorted(by_step):
        span = step - previous
        if span > 0:
            total += by_step[step] * span
            steps += span
        previous = step
    return (total / steps if steps else None), steps
