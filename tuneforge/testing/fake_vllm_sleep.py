"""vLLM's sleep-mode routes for the vLLM stand-in (tuneforge.testing.fake_vllm).

As vllm 0.32 answers them (``entrypoints/serve/dev/sleep/api_router.py``), when the server
runs with ``VLLM_SERVER_DEV_MODE=1`` and the engine with ``--enable-sleep-mode``:

- ``POST /sleep?level=L`` (L in 0..2, default 1; ``mode`` ignored) → 200
  ``{"status": "sleeping", "level": L}``; a level outside 0..2 → 400 BadRequestError;
- ``POST /wake_up`` (optional repeated ``tags``: ``weights``, ``kv_cache``) → 200
  ``{"status": "awake" | "sleeping", "tags": [...] | null}`` — ``sleeping`` while some tag is
  still asleep;
- ``GET /is_sleeping`` → 200 ``{"is_sleeping": bool}``.

Without dev mode the routes do not exist: 404 ``{"detail": "Not Found"}`` (``enabled=False``,
the stand-in's default, like the real server's default). ``history`` records the transitions.
"""

from __future__ import annotations

from urllib.parse import parse_qs

ROUTES = ("/sleep", "/wake_up", "/is_sleeping")
TAGS = ("weights", "kv_cache")


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
            if not raw.lstrip("-").isdigit() or not 0 <= int(raw) <= 2:
                return 400, {"error": {"message": f"level: Input should be between 0 and 2, "
                                                  f"got {raw!r}", "type": "BadRequestError",
                                       "param": "level", "code": 400}}
            self.level, self.asleep = int(raw), set(TAGS)
            self.history.append(f"sleep:{raw}")
            return 200, {"status": "sleeping", "level": int(raw)}
        if method == "POST" and path == "/wake_up":
            tags = params.get("tags") or None
            self.asleep -= set(tags or TAGS)
            self.history.append("wake_up" + (f":{','.join(tags)}" if tags else ""))
            return 200, {"status": "sleeping" if self.asleep else "awake", "tags": tags}
        return 405, {"detail": "Method Not Allowed"}
