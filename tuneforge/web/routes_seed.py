"""The seed system's admin API, path for path (issue 28): the 28 method+path pairs of the
seeds' ``/admin/finetune/…`` and ``/admin/tts-finetune/…`` that the console's own JSON API did
not already answer under the same method and path, plus the console's additions (local base
models, dataset contacts, voice-model activation and rollback, evaluation, export).

Each is a thin layer over the same :class:`tuneforge.web.grpc_api.Backend` calls the pages use;
``SEED_PAIRS`` lists all 28 pairs with the handler that answers each (docs/web.md has the table).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tuneforge.web import routes_llm as llm
from tuneforge.web import routes_tts as tts
from tuneforge.web.http import ApiError, bad_request, download, json_body, upload_source
from tuneforge.web.routes_llm import backend, ok
from tuneforge.web.sse import sse_response

LLM, TTS = "/admin/finetune", "/admin/tts-finetune"


# ---------------------------------------------------------------------- LLM: the one-dataset view
async def dataset_status(request: Request) -> Response:
    """The datasets, the latest processing jobs and the one running now (if any)."""
    b = backend(request)
    jobs = await b.list_jobs("llm", "dataset", 10)
    running = [j for j in jobs if j["state"] in ("STATE_RUNNING", "STATE_QUEUED")]
    return ok({"datasets": await b.list_datasets(), "jobs": jobs, "processing": running[0] if running else None})


async def dataset_upload(request: Request) -> Response:
    """Upload a Telegram export and start processing it (``?name=``, default the file's stem;
    ``?kind=import`` for a dataset file): 202 ``{upload, job}`` or 201 ``{upload, dataset}``."""
    filename, size, chunks, _ = await upload_source(request)
    upload = await backend(request).upload("dataset", filename, chunks, size)
    name = request.query_params.get("name") or filename.rsplit(".", 1)[0] or "dataset"
    if request.query_params.get("kind", "telegram") == "import":
        return ok({"upload": upload, **await backend(request).import_dataset(upload["id"], name, {})}, 201)
    job = await backend(request).process_telegram(upload["id"], name, {}, "", request.query_params.get("append_to", ""))
    return ok({"upload": upload, "job": job}, 202)


async def dataset_generate(request: Request) -> Response:
    """``GenerateDatasetRequest`` fields (docs_dir, faq_file, code_dir, …) → 202 ``{job}``."""
    body = await json_body(request)
    if not str(body.get("dataset_name") or "").strip():
        raise bad_request("dataset_name", "required: the name of the dataset to generate")
    return ok({"job": await backend(request).generate_dataset(body)}, 202)


async def dataset_stats(request: Request) -> Response:
    """Statistics of ``?name=`` (default: the newest dataset)."""
    b = backend(request)
    name = request.query_params.get("name", "")
    if not name:
        datasets = sorted(await b.list_datasets(), key=lambda d: d.get("create_time", ""), reverse=True)
        if not datasets:
            raise ApiError(404, "NO_DATASET", "no dataset yet: upload a Telegram export first", {"name": "no dataset yet"})
        name = datasets[0]["name"]
    return ok(await b.dataset_stats(name, request.query_params.get("base_model", "")))


async def dataset_contacts(request: Request) -> Response:
    return ok({"contacts": await backend(request).dataset_contacts(request.path_params["name"])})


async def base_models(request: Request) -> Response:
    """What the server can train from without a download, and what to do otherwise."""
    return ok(await backend(request).base_models())


async def _training_log(request: Request, scope: str, kinds: tuple[str, ...]) -> Response:
    """SSE of ``?job_id=``, default the running (else the newest) training job of the scope."""
    b = backend(request)
    job_id = request.query_params.get("job_id", "")
    if not job_id:
        jobs = [j for j in await b.list_jobs(scope, None, 50) if j.get("kind") in kinds]
        running = [j for j in jobs if j["state"] == "STATE_RUNNING"]
        if not (running or jobs):
            raise ApiError(404, "NO_TRAINING_JOB", "no training job yet", {"job_id": "no training job yet"})
        job_id = (running or jobs)[0]["id"]
    await b.get_job(job_id)
    return sse_response(request, lambda after: b.watch_job(job_id, after))


async def train_log(request: Request) -> Response:
    return await _training_log(request, "llm", ("train",))


# ---------------------------------------------------------------------- TTS
async def get_sample(request: Request) -> Response:
    return ok(await backend(request).get_sample(request.path_params["name"]))


async def tts_train_status(request: Request) -> Response:
    jobs = [j for j in await backend(request).list_jobs("tts", None, 50) if j.get("kind") == "tts_train"]
    running = [j for j in jobs if j["state"] == "STATE_RUNNING"]
    queued = [j for j in jobs if j["state"] == "STATE_QUEUED"]
    return ok({"running": running[0] if running else None, "queue": queued, "jobs": jobs[:20]})


async def tts_train_log(request: Request) -> Response:
    return await _training_log(request, "tts", ("tts_train",))


async def activate_voice(request: Request) -> Response:
    body = await json_body(request) if request.headers.get("content-length", "0") != "0" else {}
    return ok(await backend(request).activate_voice_model(request.path_params["name"], str(body.get("checkpoint") or "")))


async def active_voice(request: Request) -> Response:
    return ok(await backend(request).active_voice_model())


async def rollback_voice(request: Request) -> Response:
    return ok(await backend(request).rollback_voice_model())


async def preview(request: Request) -> Response:
    return await tts.synthesize(request)


async def preview_audio(request: Request) -> Response:
    job_id = request.path_params["id"]
    meta, chunks = await backend(request).download_preview(job_id)
    response = download(meta, chunks, f"{job_id}.wav", "audio/wav")
    response.headers["content-disposition"] = response.headers["content-disposition"].replace("attachment", "inline")
    return response


# ---------------------------------------------------------------------- evaluation and export
async def get_evaluation(request: Request) -> Response:
    return ok(await backend(request).evaluation(request.path_params["name"]))


async def start_evaluation(request: Request) -> Response:
    body = await json_body(request) if request.headers.get("content-length", "0") != "0" else {}
    return ok({"job": await backend(request).start_evaluation(request.path_params["name"], body)}, 202)


async def start_export(request: Request) -> Response:
    body = await json_body(request)
    return ok({"job": await backend(request).start_export(request.path_params["name"], body)}, 202)


async def list_exports(request: Request) -> Response:
    return ok({"models": await backend(request).list_exported_models(request.query_params.get("adapter", ""))})


async def download_export(request: Request) -> Response:
    meta, chunks = await backend(request).download_exported_model(request.path_params["id"], request.query_params.get("file", ""))
    return download(meta, chunks, meta.get("filename") or request.path_params["id"])


# ---------------------------------------------------------------------- presets that fit the data
MIN_EXAMPLES, MAX_EXAMPLES, MAX_EPOCHS, MIN_STEPS_PER_EPOCH = 100, 25000, 25, 4


def fit_to_data(examples: int, values: dict[str, Any], edited: set[str]) -> dict[str, Any]:
    """Scale a preset's epochs (and, for a small set, its gradient accumulation) to the number
    of training examples, after the OpenAI cookbook's heuristic: examples × epochs between 100
    and 25 000, at most 25 epochs; and at least 4 optimizer steps an epoch. Fields the user
    edited (``edited``) are kept as they are."""
    out = dict(values)
    batch = max(int(out.get("batch_size") or 1), 1)
    if "gradient_accumulation_steps" not in edited and examples:
        most = max(examples // (batch * MIN_STEPS_PER_EPOCH), 1)
        out["gradient_accumulation_steps"] = max(1, min(int(out.get("gradient_accumulation_steps") or 1), most))
    if "epochs" not in edited and examples:
        epochs = int(out.get("epochs") or 1)
        if examples * epochs < MIN_EXAMPLES:
            epochs = min(MAX_EPOCHS, -(-MIN_EXAMPLES // examples))
        elif examples * epochs > MAX_EXAMPLES:
            epochs = max(1, MAX_EXAMPLES // examples)
        out["epochs"] = epochs
    per_step = batch * int(out.get("gradient_accumulation_steps") or 1)
    out["steps"] = -(-examples // per_step) * int(out.get("epochs") or 1) if examples else 0
    return out


async def fit_preset(request: Request) -> Response:
    """``{dataset, preset, config (the user's edits), base_model}`` → the preset's values scaled
    to the dataset, and the optimizer steps it gives (the trainer's count when it can plan)."""
    body = await json_body(request)
    b = backend(request)
    dataset = await b.get_dataset(str(body.get("dataset") or ""))
    info = await b.training_config()
    preset_name = str(body.get("preset") or info["default_preset"])
    preset = next((p for p in info["presets"] if p["name"] == preset_name), None)
    if preset is None:
        raise bad_request("preset", f"one of {', '.join(p['name'] for p in info['presets'])}")
    edits = body.get("config") or {}
    if not isinstance(edits, dict):
        raise bad_request("config", "must be an object of key -> value")
    examples = int(dataset.get("record_count") or 0)
    fitted = fit_to_data(examples, {**info["config"], **preset["values"], **edits}, set(edits))
    steps = fitted.pop("steps")
    scaled = {k: fitted[k] for k in ("epochs", "gradient_accumulation_steps") if k not in edits and fitted[k] != {**info["config"], **preset["values"]}.get(k)}
    answer = {"preset": preset_name, "examples": examples, "values": scaled, "steps": steps, "counted_by": "estimate",
              "epochs": fitted["epochs"], "gradient_accumulation_steps": fitted["gradient_accumulation_steps"], "batch_size": fitted.get("batch_size", 1)}
    if body.get("base_model"):
        try:
            plan = await b.plan_training(dataset=dataset["name"], base_model=str(body["base_model"]), preset=preset_name,
                                         config={**edits, **scaled})
            if (plan.get("time") or {}).get("total_steps"):
                answer["steps"], answer["counted_by"] = int(plan["time"]["total_steps"]), "trainer"
        except Exception:  # noqa: BLE001 - the estimate stands; Start shows the trainer's own refusal
            pass
    return ok(answer)


async def health(request: Request) -> Response:
    return ok(await backend(request).health())


# The seeds' 28 method+path pairs → the handler answering each (the test calls every one).
SEED_PAIRS: list[tuple[str, str, Any]] = [
    ("GET", f"{LLM}/dataset/status", dataset_status),
    ("POST", f"{LLM}/dataset/upload", dataset_upload),
    ("POST", f"{LLM}/dataset/generate", dataset_generate),
    ("GET", f"{LLM}/dataset/stats", dataset_stats),
    ("GET", f"{LLM}/config", llm.get_config),
    ("POST", f"{LLM}/config", llm.update_config),
    ("POST", f"{LLM}/train/start", llm.start_training),
    ("GET", f"{LLM}/train/status", llm.training_status),
    ("POST", f"{LLM}/train/stop", llm.stop_training),
    ("GET", f"{LLM}/train/log", train_log),
    ("GET", f"{LLM}/adapters", llm.list_adapters),
    ("POST", f"{LLM}/adapters/{{name}}/activate", llm.activate),
    ("DELETE", f"{LLM}/adapters/{{name}}", llm.delete_adapter),
    ("GET", f"{LLM}/adapters/{{name}}/download", llm.download_adapter),
    ("GET", f"{TTS}/samples", tts.list_samples),
    ("POST", f"{TTS}/samples/upload", tts.upload_sample),
    ("GET", f"{TTS}/samples/{{name}}", get_sample),
    ("DELETE", f"{TTS}/samples/{{name}}", tts.delete_sample),
    ("POST", f"{TTS}/transcribe", tts.transcribe),
    ("POST", f"{TTS}/prepare", tts.prepare),
    ("POST", f"{TTS}/train/start", tts.start_training),
    ("GET", f"{TTS}/train/status", tts_train_status),
    ("POST", f"{TTS}/train/stop", tts.stop_training),
    ("GET", f"{TTS}/train/log", tts_train_log),
    ("GET", f"{TTS}/models", tts.list_models),
    ("POST", f"{TTS}/models/{{name}}/activate", activate_voice),
    ("POST", f"{TTS}/preview", preview),
    ("GET", f"{TTS}/preview/{{id}}", preview_audio),
]
assert len(SEED_PAIRS) == 28

# Routes this module adds (the other seed pairs are routes_llm's and routes_tts's own);
# listed before those, so ``/adapters/{name}`` patterns never shadow them.
ROUTES = [
    Route(f"{LLM}/dataset/status", dataset_status),
    Route(f"{LLM}/dataset/upload", dataset_upload, methods=["POST"]),
    Route(f"{LLM}/dataset/generate", dataset_generate, methods=["POST"]),
    Route(f"{LLM}/dataset/stats", dataset_stats),
    Route(f"{LLM}/config", llm.update_config, methods=["POST"]),
    Route(f"{LLM}/train/log", train_log),
    Route(f"{LLM}/base-models", base_models),
    Route(f"{LLM}/train/fit-preset", fit_preset, methods=["POST"]),
    Route("/admin/health", health),
    Route(f"{LLM}/datasets/{{name}}/contacts", dataset_contacts),
    Route(f"{LLM}/adapters/{{name}}/evaluation", get_evaluation),
    Route(f"{LLM}/adapters/{{name}}/evaluate", start_evaluation, methods=["POST"]),
    Route(f"{LLM}/adapters/{{name}}/export", start_export, methods=["POST"]),
    Route(f"{LLM}/exports", list_exports),
    Route(f"{LLM}/exports/{{id}}/download", download_export),
    Route(f"{TTS}/samples/{{name}}", get_sample),
    Route(f"{TTS}/train/status", tts_train_status),
    Route(f"{TTS}/train/log", tts_train_log),
    Route(f"{TTS}/base-models", base_models),
    Route(f"{TTS}/models/active", active_voice),
    Route(f"{TTS}/models/rollback", rollback_voice, methods=["POST"]),
    Route(f"{TTS}/models/{{name}}/activate", activate_voice, methods=["POST"]),
    Route(f"{TTS}/preview", preview, methods=["POST"]),
    Route(f"{TTS}/preview/{{id}}", preview_audio),
]
