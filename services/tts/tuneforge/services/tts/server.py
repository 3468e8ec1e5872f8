"""Wiring of the tts service into a tuneforge server.

Job kinds (all run ``<tts_python> -m tuneforge.services.tts.<worker> --spec spec.json``):

| kind             | worker                | GPU lock |
|------------------|-----------------------|----------|
| `transcribe`     | transcribe_worker     | no       |
| `tts_prepare`    | prepare_worker        | no       |
| `tts_train`      | train_worker          | yes: the same lock as LLM training on those GPUs |
| `tts_synthesize` | synthesize_worker     | no       |

Every kind gets ``CUDA_VISIBLE_DEVICES = tts_gpu_devices or gpu_devices`` (so nothing lands
on the GPU vLLM serves from); only training takes the lock and queues behind other training.
With ``vllm_share_gpu`` (one GPU for both), vLLM sleeps while `tts_train` runs
(runtime/vllm_sleep.py).
The interpreter is ``tts_python`` (a TTS virtualenv with tuneforge installed) or the
ordinary worker interpreter.
"""

from __future__ import annotations

from tuneforge.tts.v1 import tts_pb2, tts_pb2_grpc

from tuneforge.audio.whisper import MODELS_DIR_ENV
from tuneforge.runtime.jobs import Job, JobKind
from tuneforge.runtime.server import ServiceContext
from tuneforge.runtime.vllm_sleep import gpu_job_hooks
from tuneforge.services.tts.servicer import KINDS, RESULT_TYPES, TtsServicer

SERVICE_NAME = tts_pb2.DESCRIPTOR.services_by_name["TtsService"].full_name

# kind -> params message packed in the wire Job (JobKind.params_type): the spec's keys.
PARAMS_TYPES = {
    "transcribe": tts_pb2.TranscribeJobParams,
    "tts_prepare": tts_pb2.PrepareJobParams,
    "tts_train": tts_pb2.TtsTrainingJobParams,
    "tts_synthesize": tts_pb2.SynthesizeJobParams,
}

async def setup(ctx: ServiceContext) -> None:
    python = ctx.config.tts_python or ctx.engine.worker_python
    devices = ctx.config.tts_gpu_devices or ctx.config.gpu_devices
    models_dir = ctx.config.models_dir

    def env(job: Job) -> dict[str, str]:
        return {MODELS_DIR_ENV: models_dir} if models_dir else {}

    servicer = TtsServicer(ctx)
    before_start, on_end = gpu_job_hooks(ctx.config)  # vllm_share_gpu: vLLM sleeps meanwhile
    for kind, module in KINDS.items():
        gpu = kind == "tts_train"
        ctx.engine.register_kind(JobKind(
            name=kind,
            service="tts",
            command=lambda job, module=module: [python, "-m", module, "--spec", str(job.spec_path)],
            gpu=gpu,
            gpu_devices=devices,
            env=env,
            on_success=servicer.on_success(kind),
            params_type=PARAMS_TYPES[kind],
            result_type=RESULT_TYPES[kind],
            before_start=before_start if gpu else None,
            on_end=on_end if gpu else None,
        ))  # fmt: skip
    tts_pb2_grpc.add_TtsServiceServicer_to_server(servicer, ctx.server)
