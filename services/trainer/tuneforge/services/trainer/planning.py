"""The service side of the pre-flight check: gather what :mod:`preflight` needs over the wire.

The dataset's longest record comes from the dataset service's token stats (counted with the
base model's tokenizer when the dataset service can find it, else its estimate); the device
from ``gpu_devices`` (nvidia-smi, in a thread) or the CPU. The result converts to the
``TrainingPlan`` message for ``PlanTraining``; ``CreateTrainingJob`` runs the same plan and
refuses a job that cannot fit. ``PlanTraining`` of a chat method also carries the truncation
report (``truncation_check``: the training job's own encoding, in a subprocess).
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

import grpc
from tuneforge.dataset.v1 import dataset_pb2
from tuneforge.trainer.v1 import trainer_pb2 as pb

from tuneforge.runtime.config import Config
from tuneforge.services.trainer import config_pb, preflight
from tuneforge.services.trainer.config import TrainingConfig

CHAT_METHODS = ("lora", "full")  # the methods whose records chat_data encodes (and truncates)
StatsCall = Callable[[dataset_pb2.GetDatasetStatsRequest], Awaitable[dataset_pb2.DatasetStats]]


async def longest_record(stats: StatsCall, dataset: str, base_model: str,
                         max_seq_length: int) -> int | None:
    """The dataset's longest record in tokens (the base model's tokenizer when the dataset
    service finds it, else its estimate); None when the stats are not available."""
    for model in (base_model, ""):
        try:
            found = await stats(dataset_pb2.GetDatasetStatsRequest(
                name=dataset, base_model=model, max_seq_length=max_seq_length))
            return int(found.max_record_tokens) or None
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
                return None
    return None


async def make_plan(config: Config, cfg: TrainingConfig, base_model: str, dataset_format: str,
                    longest: int | None) -> preflight.Plan:
    preflight.check_data_kind(cfg.method, dataset_format)
    device = await asyncio.to_thread(preflight.device_for, config.gpu_devices,
                                     config.vllm_share_gpu)
    return preflight.make_plan(base_model, cfg, device, longest)


def plan_pb(plan: preflight.Plan, cfg: TrainingConfig) -> pb.TrainingPlan:
    est = plan.estimate
    return pb.TrainingPlan(
        parameters=plan.shape.parameters(), trainable_parameters=est.trainable_parameters,
        seq_len=plan.settings.seq_len, seq_len_source=plan.seq_len_source,
        memory=pb.MemoryEstimate(weights_bytes=est.weights, trainable_state_bytes=est.trainable_state,
                                 activations_bytes=est.activations, logits_bytes=est.logits,
                                 runtime_bytes=est.runtime, total_bytes=est.total),
        device_kind=plan.device.kind, device_name=plan.device.name,
        device_total_bytes=plan.device.total_bytes,
        available_bytes=int(plan.device.free_bytes * preflight.HEADROOM), fits=plan.fits,
        advice=plan.advice, config=config_pb.config_pb(cfg))
