"""Rephrase generated questions and answers with an OpenAI-compatible chat endpoint.

Template questions ("What is delivery?") teach the facts; a real model makes them sound like
people. Teams that use tuneforge already run vLLM, which serves the OpenAI API, so
``generate --llm-url http://host:8000/v1`` sends each passage's questions and answer to
``POST {url}/chat/completions`` and asks for JSON back: ``{"questions": [...], "answer": "..."}``
in the passage's language. A reply that is not that JSON keeps the original pair (counted);
an endpoint that cannot be reached fails the job (UNAVAILABLE ``LLM_UNAVAILABLE``) rather than
silently producing a different dataset. Only the standard library is used (no SDK).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

from tuneforge.runtime.errors import Code, TuneforgeError, invalid_argument

TIMEOUT_SECONDS = 120
SYSTEM_PROMPT = (
    "You rewrite training data for a support assistant. You get JSON with 'questions' (ways a "
    "user might ask) and 'answer' (the facts). Return only JSON {\"questions\": [...], \"answer\": "
    "\"...\"}: the same number of questions, each as a real user would write it, all different; "
    "the answer short, friendly and self-contained, using only the given facts. Keep the "
    "language of the input (Russian stays Russian)."
)
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


def base_url(url: str) -> str:
    """``http://host:8000`` or ``http://host:8000/v1`` → ``http://host:8000/v1``."""
    url = url.strip().rstrip("/")
    if not re.match(r"^https?://[^\s/]+", url):
        raise invalid_argument("llm_url", "must be an http:// or https:// URL", reason="INVALID_LLM_URL")
    return url if url.endswith("/v1") else f"{url}/v1"


class Rephraser:
    def __init__(self, url: str, model: str = "", api_key: str = "") -> None:
        self.url = base_url(url)
        self.api_key = api_key
        self.model = model or self._first_model()
        self.rephrased = 0
        self.kept = 0  # replies that were not the JSON asked for

    def rephrase(self, questions: list[str], answer: str) -> tuple[list[str], str]:
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": json.dumps({"questions": questions, "answer": answer}, ensure_ascii=False)},
            ],
            "temperature": 0.3,
            "max_tokens": 1024,
        }
        reply = self._call("POST", "/chat/completions", body)
        try:
            content = reply["choices"][0]["message"]["content"]
            data = json.loads(_FENCE.sub("", content.strip()))
            new_q = [q.strip() for q in data["questions"] if isinstance(q, str) and q.strip()]
            new_a = data["answer"].strip()
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            self.kept += 1
            return questions, answer
        if not new_q or not new_a:
            self.kept += 1
            return questions, answer
        self.rephrased += 1
        return new_q[: len(questions)], new_a

    def _first_model(self) -> str:
        models = self._call("GET", "/models", None).get("data") or []
        ids = [m.get("id") for m in models if isinstance(m, dict) and m.get("id")]
        if not ids:
            raise invalid_argument("llm_model", f"{self.url}/models lists no model; pass llm_model", reason="LLM_NO_MODEL")
        return str(ids[0])

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.api_key:
            req.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as resp:  # noqa: S310 - URL checked
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            message = _error_message(exc)
            if 400 <= exc.code < 500:
                raise invalid_argument("llm_model", f"{self.url}{path} refused the request: {message}",
                                       reason="LLM_REQUEST_REFUSED") from None  # fmt: skip
            raise _unavailable(f"{self.url}{path} failed with HTTP {exc.code}: {message}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise _unavailable(f"cannot reach {self.url}{path}: {reason}") from None


def _error_message(exc: urllib.error.HTTPError) -> str:
    """vLLM and OpenAI answer errors as ``{"error": {"message": ...}}``."""
    try:
        payload = json.loads(exc.read().decode("utf-8"))
        err = payload.get("error")
        return str(err.get("message") if isinstance(err, dict) else err or payload)[:300]
    except (ValueError, AttributeError, OSError):
        return exc.reason if isinstance(exc.reason, str) else str(exc.code)


def _unavailable(message: str) -> TuneforgeError:
    return TuneforgeError(Code.UNAVAILABLE, "LLM_UNAVAILABLE", message)
