"""``/admin/finetune/…``: the LLM half of the Finetune tab as JSON, the seed panel's shape.

Each handler is a line or two over :class:`tuneforge.web.grpc_api.Backend`; the pages call
exactly these endpoints. Job endpoints (``/jobs/{id}``, its events, logs, metrics) serve
training and dataset-processing jobs alike.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from tuneforge.client import TuneforgeClientError
from tuneforge.web.grpc_api import Backend
from tuneforge.web.http import ApiError, bad_request, download, flag, int_param, json_body, required, upload_source
from tuneforge.web.sse import sse_response

SCOPE = "llm"
LOG_TAIL = 100


def backend(request: Request) -> Backend:
    return request.app.state.backend


def ok(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status)


# ---------------------------------------------------------------------- datasets
async def list_datasets(request: Request) -> Response:
    return ok({"datasets": await backend(request).list_datasets()})


async def upload(request: Request) -> Response:
    filename, size, chunks, _ = await upload_source(request)
    return ok({"upload": await backend(request).upload("dataset", filename, chunks, size)}, 201)


async def process(request: Request) -> Response:
    """``{upload_id, name, kind: telegram|import, options}``: a job (telegram) or a dataset."""
    body = await json_body(request)
    upload_id, name = required(body, "upload_id"), required(body, "name")
    kind = str(body.get("kind") or "telegram")
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise bad_request("options", "must be an object")
    if kind == "telegram":
        job = await backend(request).process_telegram(upload_id, name, options, str(body.get("request_id") or ""),
                                                      str(body.get("append_to") or ""))
        return ok({"job": job}, 202)
    if kind == "import":
        return ok(await backend(request).import_dataset(upload_id, name, options), 201)
    raise bad_request("kind", "telegram or import")


async def get_dataset(request: Request) -> Response:
    return ok(await backend(request).get_dataset(request.path_params["name"]))


async def dataset_stats(request: Request) -> Response:
    base_model = request.query_params.get("base_model", "")
    return ok(await backend(request).dataset_stats(request.path_params["name"], base_model, int_param(request, "max_seq_length", 0)))


async def dataset_preview(request: Request) -> Response:
    records = await backend(request).preview_dataset(
        request.path_params["name"], int_param(request, "count", 5), flag(request, "validation"))
    return ok({"records": records})


async def delete_dataset(request: Request) -> Response:
    await backend(request).delete_dataset(request.path_params["name"])
    return ok({"deleted": request.path_params["name"]})


async def download_dataset(request: Request) -> Response:
    name = request.path_params["name"]
    meta, chunks = await backend(request).download_dataset(name, flag(request, "validation"))
    return download(meta, chunks, f"{name}.jsonl", "application/x-ndjson")


async def telegram_config(request: Request) -> Response:
    return ok(await backend(request).telegram_config())


# ---------------------------------------------------------------------- config and training
async def get_config(request: Request) -> Response:
    return ok(await backend(request).training_config())


async def update_config(request: Request) -> Response:
    body = await json_body(request)
    values = body.get("values") or {}
    if not isinstance(values, dict):
        raise bad_request("values", "must be an object of key -> value")
    return ok(await backend(request).update_training_config(values, bool(body.get("reset"))))


async def presets(request: Request) -> Response:
    info = await backend(request).training_config()
    return ok({"presets": info["presets"], "default_preset": info["default_preset"]})


def _config(body: dict[str, Any]) -> dict[str, Any]:
    config = body.get("config") or {}
    if not isinstance(config, dict):
        raise bad_request("config", "must be an object of key -> value")
    return config


async def start_training(request: Request) -> Response:
    body = await json_body(request)
    job = await backend(request).start_training(
        dataset=str(body.get("dataset") or ""), base_model=str(body.get("base_model") or ""),
        preset=str(body.get("preset") or ""), config=_config(body),
        adapter_name=str(body.get("adapter_name") or ""), resume_from=str(body.get("resume_from") or ""),
        request_id=str(body.get("request_id") or ""))
    return ok({"job": job}, 202)


async def plan_training(request: Request) -> Response:
    """Will the job fit, and how long will it take (the trainer's pre-flight check)."""
    body = await json_body(request)
    return ok({"plan": await backend(request).plan_training(
        dataset=str(body.get("dataset") or ""), base_model=str(body.get("base_model") or ""),
        preset=str(body.get("preset") or ""), config=_config(body), warmup=body.get("warmup") is True)})


async def stop_training(request: Request) -> Response:
    body = await json_body(request)
    return ok({"job": await backend(request).cancel_job(required(body, "job_id"))})


async def resume_training(request: Request) -> Response:
    """Resume a stopped or failed job from its last checkpoint, as a new job with its settings."""
    body = await json_body(request)
    old = await backend(request).get_job(required(body, "job_id"))
    params = old.get("params") or {}
    if old.get("kind") != "train":
        raise ApiError(412, "NOT_A_TRAINING_JOB", f"job {old['id']} is a {old.get('kind')} job")
    job = await backend(request).start_training(
        dataset=str(body.get("dataset") or params.get("dataset_name") or ""),
        base_model=str(body.get("base_model") or params.get("base_model") or ""),
        preset=str(params.get("preset") or ""), config=params.get("config") or {},
        adapter_name=str(body.get("adapter_name") or params.get("adapter_name") or ""),
        resume_from=old["id"], request_id=str(body.get("request_id") or ""))
    return ok({"job": job}, 202)


async def training_status(request: Request) -> Response:
    """The running job (if any), the queue, and the latest jobs."""
    jobs = await backend(request).list_jobs(SCOPE, "trainer", 20)
    running = [j for j in jobs if j["state"] == "STATE_RUNNING"]
    queued = sorted((j for j in jobs if j["state"] == "STATE_QUEUED"), key=lambda j: j.get("queue_position", 0))
    return ok({"running": running[0] if running else None, "queue": queued, "jobs": jobs})


# ---------------------------------------------------------------------- jobs
async def list_jobs(request: Request) -> Response:
    service = request.query_params.get("service") or None
    if service not in (None, "trainer", "dataset"):
        raise bad_request("service", "trainer or dataset")
    return ok({"jobs": await backend(request).list_jobs(SCOPE, service, int_param(request, "limit", 50))})


async def get_job(request: Request) -> Response:
    return ok(await backend(request).get_job(request.path_params["id"]))


async def cancel_job(request: Request) -> Response:
    return ok(await backend(request).cancel_job(request.path_params["id"]))


async def job_events(request: Request) -> Response:
    job_id = request.path_params["id"]
    await backend(request).get_job(job_id)  # a 404 before the stream starts
    return sse_response(request, lambda after: backend(request).watch_job(job_id, after))


async def job_logs(request: Request) -> Response:
    """The last ``tail`` lines (default 100) as JSON, or every line as a text file (``?download=1``)."""
    job_id = request.path_params["id"]
    lines = [line async for line in backend(request).job_logs(job_id)]
    if flag(request, "download"):
        text = "".join(f"{line.get('time', '')} {line.get('level', '').upper():7} {line.get('message', '')}\n" for line in lines)
        return PlainTextResponse(text, headers={"content-disposition": f'attachment; filename="{job_id}.log"'})
    tail = max(int_param(request, "tail", LOG_TAIL), 0)
    return ok({"lines": lines[-tail:] if tail else [], "total": len(lines)})


async def job_metrics(request: Request) -> Response:
    return ok({"metrics": await backend(request).job_metrics(request.path_params["id"])})


async def job_checkpoints(request: Request) -> Response:
    return ok({"checkpoints": await backend(request).job_checkpoints(request.path_params["id"])})


# ---------------------------------------------------------------------- adapters
async def list_adapters(request: Request) -> Response:
    b = backend(request)
    return ok({"adapters": await b.list_adapters(), "active": await b.active_adapter()})


async def active_adapter(request: Request) -> Response:
    return ok(await backend(request).active_adapter())


def activation_concern(adapter: dict[str, Any], live: dict[str, Any] | None) -> tuple[str, str]:
    """(reason, why) when activating ``adapter`` needs the user's confirmation, else ("", "").
    Not evaluated yet, an eval loss not below the base's, or worse than the live adapter's."""
    evaluation = adapter.get("evaluation") or {}
    if not evaluation.get("samples") and not evaluation.get("adapter_eval_loss"):
        return "NOT_EVALUATED", f"adapter {adapter['name']} has no evaluation yet: nothing says it is better than the base"
    loss, base = evaluation.get("adapter_eval_loss", 0.0), evaluation.get("base_eval_loss", 0.0)
    if base and loss >= base and not evaluation.get("closer_to_owner"):
        return "NOT_BETTER_THAN_BASE", (f"adapter {adapter['name']}: eval loss {loss:.4g} is not below the base's {base:.4g} "
                                        "and its replies are not closer to the owner's style")
    live_eval = (live or {}).get("evaluation") or {}
    if live and live["name"] != adapter["name"] and live_eval.get("adapter_eval_loss") and loss > live_eval["adapter_eval_loss"]:
        return "WORSE_THAN_LIVE", (f"adapter {adapter['name']}: eval loss {loss:.4g} is worse than the live adapter "
                                   f"{live['name']}'s {live_eval['adapter_eval_loss']:.4g}")
    return "", ""


async def activate(request: Request) -> Response:
    """Activate; an adapter not evaluated, not better than its base or worse than the live one
    answers 409 CONFIRMATION_REQUIRED (with why) unless ``?confirm=1`` or ``{"confirm": true}``."""
    name = request.path_params["name"]
    b = backend(request)
    body = await json_body(request)
    if not (flag(request, "confirm") or body.get("confirm") is True):
        adapters = {a["name"]: a for a in await b.list_adapters()}
        if name in adapters:
            live = next((a for a in adapters.values() if a.get("active")), None)
            concern, why = activation_concern(adapters[name], live)
            if concern:
                raise ApiError(409, "CONFIRMATION_REQUIRED", f"{why}; send confirm to activate anyway",
                               {"confirm": concern})
    return ok(await b.activate_adapter(name))


async def deactivate(request: Request) -> Response:
    return ok(await backend(request).deactivate_adapter())


async def rollback(request: Request) -> Response:
    return ok(await backend(request).rollback_adapter())


async def delete_adapter(request: Request) -> Response:
    await backend(request).delete_adapter(request.path_params["name"], flag(request, "force"))
    return ok({"deleted": request.path_params["name"]})


async def download_adapter(request: Request) -> Response:
    name = request.path_params["name"]
    meta, chunks = await backend(request).export_adapter(name)
    return download(meta, chunks, f"{name}.tar.gz", "application/gzip")


async def chat(request: Request) -> Response:
    """``{messages: [{role, content}], compare, max_new_tokens}`` → server-sent events ``job``,
    ``piece`` (``{side, text}``) as the reply is generated, ``reply`` per side, then ``end``.
    Errors before the first event (unknown adapter, bad messages) are ordinary HTTP errors."""
    body = await json_body(request)
    messages = body.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise bad_request("messages", "a list of {role, content}")
    max_new_tokens = body.get("max_new_tokens") or 0
    if not isinstance(max_new_tokens, int) or isinstance(max_new_tokens, bool):
        raise bad_request("max_new_tokens", f"expected an integer, got {max_new_tokens!r}"[:200])
    sampling = {}
    for key in ("temperature", "top_p"):
        value = body.get(key) or 0.0
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= (2 if key == "temperature" else 1):
            raise bad_request(key, f"a number from 0 to {2 if key == 'temperature' else 1}, got {value!r}"[:200])
        sampling[key] = float(value)
    name, compare = request.path_params["name"], bool(body.get("compare"))
    updates = await _served_chat(backend(request), name, messages, compare, max_new_tokens, sampling)
    if updates is None:  # not served by vLLM: the trainer's chat job answers both sides
        trainer = backend(request).chat(name, messages, compare, max_new_tokens, **sampling)
        first = await trainer.__anext__()
        updates = _chain({"type": "path", "via": "trainer"}, first, trainer)

    async def frames():
        try:
            async for update in updates:
                yield f"event: {update['type']}\ndata: {json.dumps(update)}\n\n"
        except TuneforgeClientError as exc:
            yield f"event: stream_error\ndata: {json.dumps({'code': exc.code.name, 'reason': exc.reason, 'message': exc.message})}\n\n"
        yield "event: end\ndata: {}\n\n"

    return StreamingResponse(frames(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


# vLLM does not serve this adapter (or no vLLM is configured): the chat falls back to the trainer.
_NOT_SERVED = {"ADAPTER_NOT_SERVED", "VLLM_NOT_CONFIGURED"}


async def _chain(*parts):
    for part in parts:
        if isinstance(part, dict):
            yield part
        else:
            async for item in part:
                yield item


async def _served_chat(api, name, messages, compare, max_new_tokens, sampling):
    """The adapter's side through vLLM when it is served (issues 26 and 28): a ``path`` event
    saying so, its ``piece``s and ``reply`` as side ``adapter``; with ``compare``, the base's
    side then comes from the trainer's chat job on the base model alone. None when vLLM does not
    serve it, so the caller uses the trainer for both sides."""
    served = api.chat_served(name, messages, max_tokens=max_new_tokens, **sampling)
    try:
        start = await served.__anext__()
    except TuneforgeClientError as exc:
        if exc.reason in _NOT_SERVED:
            return None
        raise

    async def updates():
        yield {"type": "path", "via": "vllm", "served_name": start.get("served_name", "")}
        async for item in served:
            if item["type"] == "piece":
                yield {"type": "piece", "side": "adapter", "text": item["text"]}
            elif item["type"] == "end":
                yield {"type": "reply", "side": "adapter", "text": item.get("text", ""),
                       "finish_reason": item.get("finish_reason", "")}
        if compare:
            base = await api.base_model_of(name)
            async for item in api.chat("", messages, False, max_new_tokens, base_model=base, **sampling):
                if item.get("type") in ("piece", "reply"):
                    item["side"] = "base"
                yield item

    return updates()


P = "/admin/finetune"
ROUTES = [
    Route(f"{P}/datasets", list_datasets),
    Route(f"{P}/datasets/upload", upload, methods=["POST"]),
    Route(f"{P}/datasets/process", process, methods=["POST"]),
    Route(f"{P}/datasets/telegram-config", telegram_config),
    Route(f"{P}/datasets/{{name}}", get_dataset),
    Route(f"{P}/datasets/{{name}}", delete_dataset, methods=["DELETE"]),
    Route(f"{P}/datasets/{{name}}/stats", dataset_stats),
    Route(f"{P}/datasets/{{name}}/preview", dataset_preview),
    Route(f"{P}/datasets/{{name}}/download", download_dataset),
    Route(f"{P}/config", get_config),
    Route(f"{P}/config", update_config, methods=["PUT"]),
    Route(f"{P}/presets", presets),
    Route(f"{P}/train/start", start_training, methods=["POST"]),
    Route(f"{P}/train/plan", plan_training, methods=["POST"]),
    Route(f"{P}/train/stop", stop_training, methods=["POST"]),
    Route(f"{P}/train/resume", resume_training, methods=["POST"]),
    Route(f"{P}/train/status", training_status),
    Route(f"{P}/jobs", list_jobs),
    Route(f"{P}/jobs/{{id}}", get_job),
    Route(f"{P}/jobs/{{id}}/cancel", cancel_job, methods=["POST"]),
    Route(f"{P}/jobs/{{id}}/events", job_events),
    Route(f"{P}/jobs/{{id}}/logs", job_logs),
    Route(f"{P}/jobs/{{id}}/metrics", job_metrics),
    Route(f"{P}/jobs/{{id}}/checkpoints", job_checkpoints),
    Route(f"{P}/adapters", list_adapters),
    Route(f"{P}/adapters/active", active_adapter),
    Route(f"{P}/adapters/deactivate", deactivate, methods=["POST"]),
    Route(f"{P}/adapters/rollback", rollback, methods=["POST"]),
    Route(f"{P}/adapters/{{name}}/activate", activate, methods=["POST"]),
    Route(f"{P}/adapters/{{name}}", delete_adapter, methods=["DELETE"]),
    Route(f"{P}/adapters/{{name}}/download", download_adapter),
    Route(f"{P}/adapters/{{name}}/chat", chat, methods=["POST"]),
]
