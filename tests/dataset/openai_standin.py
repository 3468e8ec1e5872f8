"""A local stand-in for an OpenAI-compatible server (vLLM's), answering in the real API's shape."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class OpenAIStandIn(BaseHTTPRequestHandler):
    """Answers /v1/models and /v1/chat/completions the way vLLM's OpenAI server does."""

    requests: list[dict] = []

    def do_GET(self):  # noqa: N802
        if self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": "tiny-chat", "object": "model", "owned_by": "vllm"}]})
        else:
            self._send(404, {"error": {"message": "not found", "type": "NotFoundError", "code": 404}})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        if body.get("model") != "tiny-chat":
            self._send(404, {"error": {"message": f"The model `{body.get('model')}` does not exist.",
                                       "type": "NotFoundError", "code": 404}})
            return
        given = json.loads(body["messages"][-1]["content"])
        content = json.dumps({"questions": [f"Rephrased: {q}" for q in given["questions"]],
                              "answer": "In short: " + given["answer"]}, ensure_ascii=False)
        self._send(200, {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "tiny-chat",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": f"```json\n{content}\n```"},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        })

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@contextmanager
def serve() -> Iterator[str]:
    """The stand-in on a free loopback port; yields its base URL (without /v1)."""
    OpenAIStandIn.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), OpenAIStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
