"""vLLM's sleep-mode routes for the vLLM stand-in (tuneforge.testing.fake_vllm).

As vllm 0.32 answers them (``entrypoints/serve/dev/sleep/api_router.py``), when the server
runs with ``VLLM_SERVER_DEV_MODE=1`` (on a GPU with ``--enable-sleep-mode`` to free memory;
the CPU build serves the same routes and states, its worker logging "sleep mode is not
supported on CPU, ignore it"), checked against the real CPU build in
tests/registry/test_registry_real_vllm.py:

- ``POST /sleep?level=L`` (L in 0..2, default 1; ``mode`` ignored) → 200
  ``{"status": "sleeping", "level": L}``, also when already asleep; a level outside 0..2 →
  400 with a pydantic message (``param`` ``query.level``);
- ``POST /wake_up`` (optional repeated ``tags``: ``weights``, ``kv_cache``) → 200
  ``{"status": "awake" | "sleeping", "tags": [...] | null}`` — ``sleeping`` while some tag is
  still asleep;
- ``GET /is_sleeping`` → 200 ``{"is_sleeping": bool}``.

While asleep the real server holds new generation requests until it wakes (a client with a
timeout sees no answer); the stand-in serves no generation at all.

Without dev mode the routes do not exist: 404 ``{"detail": "Not Found"}`` (``enabled=False``,
the stand-in's default, like the real server's default). ``history`` records the transitions.
"""

from __future__ import annotations

from urllib.parse import parse_qs

ROUTES = ("/sleep", "/wake_up", "/is_sleeping")
TAGS = ("weights", "kv_cache")


def _bad_level(kind: str, msg: str, raw: str, **ctx: int) -> tuple[int, dict]:
    detail = {"type": kind, "loc": "query.level", "msg": msg, "input": raw, **({"ctx": ctx} if ctx else {})}
    return 400, {"error": {"message": f"1 validation error:\n  {detail}", "type": "Bad Request",
                           "param": "query.level", "code": 400}}


class SleepMode:
    def __init__(self, enabled: bool = False) -> None:
        self.enabled = enabled
        self.asleep: set[str] = set()  # tags still asleep
        self.level: int | None = None
        self.history: list[str] = []

    @property
    def sleeping(self) -> bool:
        return bool(self.asleep)

    def answer(self, method: str, path: str, query: str) -> tuple[int, dict]:
        if not self.enabled:
            return 404, {"detail": "Not Found"}
        params = parse_qs(query)
        if method == "GET" and path == "/is_sleeping":
            return 200, {"is_sleeping": self.sleeping}
        if method == "POST" and path == "/sleep":
            raw = (params.get("level") or ["1"])[-1]
            if not raw.lstrip("-").isdigit():
                return _bad_level("int_parsing", "Input should be a valid integer, unable to "
                                  "parse string as an integer", raw)
            if int(raw) > 2:
                return _bad_level("less_than_equal", "Input should be less than or equal to 2", raw, le=2)
            if int(raw) < 0:
                return _bad_level("greater_than_equal", "Input should be greater than or equal to 0", raw, ge=0)
            self.level, self.asleep = int(raw), set(TAGS)
            self.history.append(f"sleep:{raw}")
            return 200, {"status": "sleeping", "level": int(raw)}
        if method == "POST" and path == "/wake_up":
            tags = params.get("tags") or None
            self.asleep -= set(tags or TAGS)
            self.history.append("wake_up" + (f":{','.join(tags)}" if tags else ""))
            return 200, {"status": "sleeping" if self.asleep else "awake", "tags": tags}
        return 405, {"detail": "Method Not Allowed"}
