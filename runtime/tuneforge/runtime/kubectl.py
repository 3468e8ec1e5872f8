"""Calling kubectl so that no call hangs and a short API outage ends nothing.

Every call has a deadline (``kubectl_timeout_seconds``). kubectl's own ``--request-timeout``
(half the deadline) bounds each HTTP request it makes, but not the call: one command makes
several requests (API discovery, apply's OpenAPI download, the call itself) — against an API
server that accepts and never answers, kubectl 1.32 with ``--request-timeout=3s`` took 18 s
for ``get`` and 9 s for ``apply`` — and an exec credential plugin that never returns is
bounded by nothing of kubectl's. At the deadline the call's whole process group is killed
(a plugin left behind would hold the output pipes open) and the call counts as a failed try.

Idempotent calls (``apply`` of a Job with a fixed name, ``get``, ``delete --ignore-not-found``)
are retried with exponential backoff until a budget of seconds is spent, unless the API's
answer is one no retry changes (Forbidden, Invalid, BadRequest).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import time
from collections.abc import Awaitable, Callable

from tuneforge.runtime.errors import unavailable

MAX_BACKOFF_SECONDS = 10.0
TIMED_OUT = -1  # the exit code a killed call reports
_PERMANENT = ("(Forbidden)", "(Invalid)", "(BadRequest)")

Answer = tuple[int, str, str]  # exit code, stdout, stderr


def request_timeout_flag(timeout: float) -> str:
    """kubectl's per-request bound for a call whose deadline is ``timeout`` seconds."""
    return f"--request-timeout={max(1, math.ceil(timeout / 2))}s"


async def run_kubectl(cmd: list[str], stdin: bytes | None, timeout: float) -> Answer:
    """One call: (exit code, stdout, stderr); :data:`TIMED_OUT` when it was killed at ``timeout``."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        raise unavailable("KUBECTL_UNAVAILABLE", f"cannot run {cmd[0]!r}: {exc}") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except asyncio.TimeoutError:
        _kill_group(proc.pid)
        await proc.wait()
        return TIMED_OUT, "", f"kubectl {' '.join(cmd_verb(cmd))} did not answer within {timeout:g} s and was killed"
    except asyncio.CancelledError:  # the service is stopping: leave no kubectl behind
        _kill_group(proc.pid)
        raise
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace").strip()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def cmd_verb(cmd: list[str]) -> list[str]:
    """``apply``, ``get job``, ``delete job``: what a call does, for messages."""
    for i, arg in enumerate(cmd):
        if arg in ("apply", "get", "delete"):
            return cmd[i : i + (1 if arg == "apply" else 2)]
    return cmd[:1]


async def retrying(call: Callable[[], Awaitable[Answer]], *, what: str, budget: float, backoff: float,
                   ok: Callable[[str], bool] | None = None) -> Answer:  # fmt: skip
    """``call()`` until it succeeds (or ``ok(stderr)`` says its failure is an answer, such as
    NotFound), waiting ``backoff`` seconds doubling up to :data:`MAX_BACKOFF_SECONDS` between
    tries, for at most ``budget`` seconds; then UNAVAILABLE with the last error."""
    started = time.monotonic()
    delay, tries = backoff, 0
    while True:
        rc, out, err = await call()
        tries += 1
        if rc == 0 or (ok is not None and ok(err)):
            return rc, out, err
        elapsed = time.monotonic() - started
        if is_permanent(err) or elapsed + delay > budget:
            raise unavailable("KUBERNETES_ERROR", f"kubectl {what} failed {tries} time(s) over {elapsed:.0f} s: {last_line(err)}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_BACKOFF_SECONDS)


def is_permanent(stderr: str) -> bool:
    return any(reason in stderr for reason in _PERMANENT)


def is_not_found(stderr: str) -> bool:
    """The API's answer that the object does not exist (not a client error saying "not found",
    such as a missing credential plugin)."""
    return "(NotFound)" in stderr


def last_line(stderr: str) -> str:
    """kubectl's summary of a failure: its last line (the ones before are client-go's log)."""
    lines = stderr.strip().splitlines()
    return lines[-1][-300:] if lines else "no error output"
