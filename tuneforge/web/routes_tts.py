"""``/admin/tts-finetune/…``: the TTS half of the Finetune tab as JSON, the seed panel's shape.

Samples (upload, play, transcript), Whisper transcription, dataset preparation, training,
voice models with their checkpoints, and preview synthesis with its WAV.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tuneforge.web.http import bad_request, download, int_param, json_body, required, upload_source
from tuneforge.web.routes_llm import backend, ok
from tuneforge.web.routes_llm import job_logs as llm_job_logs
from tuneforge.web.sse import sse_response

SCOPE = "tts"


async def list_samples(request: Request) -> Response:
    samples = await backend(request).list_samples()
    return ok({"samples": samples, "total_seconds": round(sum(s.get("duration_seconds", 0.0) for s in samples), 2)})


async def upload_sample(request: Request) -> Response:
    filename, size, chunks, _ = await upload_source(request)
    return ok({"sample": await backend(request).upload("tts", filename, chunks, size)}, 201)


async def sample_audio(request: Request) -> Response:
    name = request.path_params["name"]
    meta, chunks = await backend(request).download_sample(name)
    response = download(meta, chunks, name)
    response.headers["content-disposition"] = response.headers["content-disposition"].replace("attachment", "inline")
    return response


async def update_transcript(request: Request) -> Response:
    body = await json_body(request)
    if not isinstance(body.get("transcript"), str):
        raise bad_request("transcript", "required: the text spoken in the sample")
    return ok(await backend(request).update_transcript(request.path_params["name"], body["transcript"]))


async def delete_sample(request: Request) -> Response:
    await backend(request).delete_sample(request.path_params["name"])
    return ok({"deleted": request.path_params["name"]})


async def transcribe(request: Request) -> Response:
    return ok({"job": await backend(request).transcribe(await json_body(request))}, 202)


async def prepare(request: Request) -> Response:
    return ok({"job": await backend(request).prepare(await json_body(request))}, 202)


async def get_config(request: Request) -> Response:
    return ok(await backend(request).tts_config())


async def update_config(request: Request) -> Response:
    body = await json_body(request)
    values = body.get("config", body)
    if not isinstance(values, dict) or not values:
        raise bad_request("config", "give the fields to change")
    return ok(await backend(request).update_tts_config(values))


async def start_training(request: Request) -> Response:
    return ok({"job": await backend(request).start_tts_training(await json_body(request))}, 202)


async def stop_training(request: Request) -> Response:
    body = await json_body(request)
    return ok({"job": await backend(request).cancel_job(required(body, "job_id"))})


async def list_models(request: Request) -> Response:
    return ok({"models": await backend(request).list_voice_models()})


async def synthesize(request: Request) -> Response:
    return ok({"job": await backend(request).synthesize(await json_body(request))}, 202)


async def synthesis_audio(request: Request) -> Response:
    job_id = request.path_params["id"]
    meta, chunks = await backend(request).download_preview(job_id)
    response = download(meta, chunks, f"{job_id}.wav", "audio/wav")
    response.headers["content-disposition"] = response.headers["content-disposition"].replace("attachment", "inline")
    return response


async def list_jobs(request: Request) -> Response:
    return ok({"jobs": await backend(request).list_jobs(SCOPE, None, int_param(request, "limit", 50))})


async def get_job(request: Request) -> Response:
    return ok(await backend(request).get_job(request.path_params["id"]))


async def job_events(request: Request) -> Response:
    job_id = request.path_params["id"]
    await backend(request).get_job(job_id)
    return sse_response(request, lambda after: backend(request).watch_job(job_id, after))


async def job_logs(request: Request) -> Response:
    return await llm_job_logs(request)


P = "/admin/tts-finetune"
ROUTES = [
    Route(f"{P}/samples", list_samples),
    Route(f"{P}/samples/upload", upload_sample, methods=["POST"]),
    Route(f"{P}/samples/{{name}}/audio", sample_audio),
    Route(f"{P}/samples/{{name}}/transcript", update_transcript, methods=["PUT"]),
    Route(f"{P}/samples/{{name}}", delete_sample, methods=["DELETE"]),
    Route(f"{P}/transcribe", transcribe, methods=["POST"]),
    Route(f"{P}/prepare", prepare, methods=["POST"]),
    Route(f"{P}/config", get_config),
    Route(f"{P}/config", update_config, methods=["PUT"]),
    Route(f"{P}/train/start", start_training, methods=["POST"]),
    Route(f"{P}/train/stop", stop_training, methods=["POST"]),
    Route(f"{P}/models", list_models),
    Route(f"{P}/synthesize", synthesize, methods=["POST"]),
    Route(f"{P}/synthesize/{{id}}/audio", synthesis_audio),
    Route(f"{P}/jobs", list_jobs),
    Route(f"{P}/jobs/{{id}}", get_job),
    Route(f"{P}/jobs/{{id}}/events", job_events),
    Route(f"{P}/jobs/{{id}}/logs", job_logs),
]
