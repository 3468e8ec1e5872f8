"""Trainer callbacks of the training worker: live events out, graceful stop in.

Imported only by the worker (it needs transformers).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from transformers import TrainerCallback

from tuneforge.runtime import worker_events as ev
from tuneforge.services.trainer.jobs import is_complete_checkpoint

_METRIC_KEYS = {
    "loss": "loss", "eval_loss": "eval_loss", "learning_rate": "learning_rate",
    "grad_norm": "grad_norm", "mean_token_accuracy": "mean_token_accuracy",
    "eval_mean_token_accuracy": "eval_mean_token_accuracy", "num_tokens": "num_tokens",
    # DPO / ORPO (TRL's names): the preference signal an owner watches
    "rewards/margins": "reward_margin", "rewards/chosen": "reward_chosen",
    "rewards/rejected": "reward_rejected", "rewards/accuracies": "reward_accuracy",
    "eval_rewards/margins": "eval_reward_margin", "eval_rewards/accuracies": "eval_reward_accuracy",
    "nll_loss": "nll_loss", "log_odds_ratio": "log_odds_ratio",
    # GRPO (TRL's names): the weighted reward and what the sampled replies looked like; each
    # reward function's mean arrives as rewards/<name>/mean and goes out as reward/<name>
    "reward": "reward", "reward_std": "reward_std", "kl": "kl",
    "completions/mean_length": "completion_mean_length",
    "completions/clipped_ratio": "completion_clipped_ratio",
    # KTO: the KL estimate its rewards are measured against (rewards/* as above; kl above)
    "eval_kl": "eval_kl",
}


def stop_agreed() -> bool:
    """Whether to stop at this step, the same answer on every rank: under DDP each rank gets its
    own SIGTERM (torchrun, Ray, Slurm, a TrainJob's pods) and may see it a step before another;
    a rank that stopped alone would leave its peers waiting in the next all-reduce. One small
    all-reduce (MAX) per step makes a stop any rank saw everyone's."""
    stop = ev.stop_requested()
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return stop
    import torch

    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    flag = torch.tensor([1.0 if stop else 0.0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def _reward_components(logs: dict[str, Any]) -> dict[str, float]:
    """GRPO's ``rewards/<name>/mean`` as ``reward/<name>`` (DPO's rewards/chosen etc. have no
    ``/mean`` and keep their names above)."""
    return {"reward/" + key[len("rewards/"):-len("/mean")]: float(value)
            for key, value in logs.items()
            if key.startswith("rewards/") and key.endswith("/mean")
            and isinstance(value, (int, float)) and not isinstance(value, bool)}


class EventsCallback(TrainerCallback):
    """progress / metrics / checkpoint events, and the stop request → save + stop.

    tokens/s counts the real (non-pad) tokens TRL reports as ``num_tokens`` over the wall time
    since training began in this process; the ETA extrapolates the seconds per step so far. On a
    GPU each loss event also carries ``mfu`` (throughput.py: 4 or 6 x parameters per token) and
    ``peak_gpu_memory_bytes`` (Metrics.extra).
    ``on_checkpoint(path)`` runs after each checkpoint is complete (e.g. to add the config); an
    incomplete one (jobs.is_complete_checkpoint) is never reported.

    ``evaluate_on_save``: every checkpoint is evaluated (the best one is registered, see
    best_checkpoint), including the save at the last step that transformers does not evaluate
    by itself; a save for a stop request is not (the stop should be quick).

    On a resume the metrics the restored ``trainer_state.json`` holds (the original job's steps
    up to the checkpoint) are sent first, as metrics events at their steps: the resumed job's
    series continues the original curve instead of starting mid-air.
    """

    def __init__(self, on_checkpoint: Callable[[Path], None] | None = None,
                 evaluate_on_save: bool = False, flops_per_token: float = 0.0,
                 peak_flops: float | None = None, cuda: bool = False) -> None:
        self.on_checkpoint = on_checkpoint
        self.evaluate_on_save = evaluate_on_save
        self.flops_per_token = flops_per_token  # throughput.flops_per_token: MFU on a GPU
        self.peak_flops = peak_flops
        self.cuda = cuda
        self.stopped_by_request = False
        self.last_checkpoint: Path | None = None
        self.last_metrics: dict[str, float] = {}
        self.tokens_per_second: float | None = None
        self._t0 = 0.0
        self._start_step = 0

    # ---- timing -------------------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kw: Any):
        self._t0 = time.perf_counter()
        self._start_step = state.global_step
        if state.is_world_process_zero and state.global_step > 0:
            self._replay(state)
        if state.is_world_process_zero:
            ev.progress(phase="training", step=state.global_step, total=state.max_steps,
                        percent=100.0 * state.global_step / max(state.max_steps, 1),
                        epoch=state.epoch or 0.0, message="training started")

    def _replay(self, state) -> None:
        """The restored run's logged metrics (steps up to the checkpoint) as metrics events."""
        for entry in state.log_history:
            step = int(entry.get("step", 0))
            out = {key: float(entry[src]) for src, key in _METRIC_KEYS.items()
                   if src != "num_tokens" and isinstance(entry.get(src), (int, float))}
            if out and 0 < step <= state.global_step:
                ev.metrics(step=step, epoch=round(float(entry.get("epoch") or 0.0), 4), **out)

    def _eta(self, state) -> float | None:
        done = state.global_step - self._start_step
        if done <= 0:
            return None
        return (time.perf_counter() - self._t0) / done * max(state.max_steps - state.global_step, 0)

    # ---- stop ---------------------------------------------------------------------------
    def on_step_end(self, args, state, control, **kw: Any):
        if stop_agreed():
            self.stopped_by_request = True
            control.should_save = True
            control.should_training_stop = True
        elif self.evaluate_on_save and control.should_save:
            control.should_evaluate = True
        if state.is_world_process_zero:
            fields: dict[str, Any] = dict(
                phase="training", step=state.global_step, total=state.max_steps,
                percent=round(100.0 * state.global_step / max(state.max_steps, 1), 2),
                epoch=round(state.epoch or 0.0, 4), eta_seconds=self._eta(state))
            if self.tokens_per_second is not None:
                fields["tokens_per_second"] = round(self.tokens_per_second, 1)
            ev.progress(**fields)
        return control

    # ---- metrics ------------------------------------------------------------------------
    def on_log(self, args, state, control, logs: dict[str, Any] | None = None, **kw: Any):
        logs = logs or {}
        if "num_tokens" in logs:  # TRL's count of real tokens trained by this process
            seconds = time.perf_counter() - self._t0
            if seconds > 0:
                self.tokens_per_second = float(logs["num_tokens"]) / seconds
        out = {key: float(logs[src]) for src, key in _METRIC_KEYS.items()
               if isinstance(logs.get(src), (int, float))}
        out.update(_reward_components(logs))
        if not out:
            return
        self.last_metrics.update(out)
        if state.is_world_process_zero:
            if self.tokens_per_second is not None and "loss" in out:
                out["tokens_per_second"] = round(self.tokens_per_second, 1)
                out.update(self._utilisation())
            ev.metrics(step=state.global_step, epoch=round(state.epoch or 0.0, 4), **out)

    def _utilisation(self) -> dict[str, float]:
        """On a GPU: MFU (when its peak is known) and the peak memory so far; {} on a CPU."""
        if not self.cuda:
            return {}
        import torch

        out = {"peak_gpu_memory_bytes": float(torch.cuda.max_memory_allocated())}
        if self.peak_flops and self.tokens_per_second:
            out["mfu"] = round(self.tokens_per_second * self.flops_per_token / self.peak_flops, 5)
        return out

    # ---- checkpoints --------------------------------------------------------------------
    def on_save(self, args, state, control, **kw: Any):
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and is_complete_checkpoint(path):
            if self.on_checkpoint is not None:
                self.on_checkpoint(path)
            self.last_checkpoint = path
            ev.checkpoint(state.global_step, path.resolve())
