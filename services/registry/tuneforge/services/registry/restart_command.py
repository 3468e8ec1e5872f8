"""Running the user's vLLM restart command (``systemctl restart tuneforge-vllm``,
``kubectl rollout restart deploy/vllm``, a script): in a session of its own, killed with
its whole process group after ``timeout`` seconds, its combined output kept (the last
64 KiB) for the activation history. Whether vLLM then serves the adapter is checked
separately (``VllmController.wait_serving``): a restart command returns long before vLLM
is up.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass

MAX_OUTPUT_CHARS = 64 * 1024


@dataclass(frozen=True)
class RestartResult:
    ok: bool
    returncode: int | None
    output: str
    timed_out: bool = False
    detail: str = ""  # why it failed, in one line


async def run_command(cmd: Sequence[str] | str, env: dict[str, str], timeout: float) -> RestartResult:
    """Run ``cmd`` (a string through ``/bin/sh -c``, or an argv list) and wait for it."""
    try:
        if isinstance(cmd, str):
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", cmd, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, env=env, start_new_session=True,
            )
        else:
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                env=env, start_new_session=True,
            )
    except OSError as exc:
        return RestartResult(False, None, f"could not start {cmd!r}: {exc}")
    chunks: list[bytes] = []

    async def drain() -> None:
        size = 0
        while chunk := await proc.stdout.read(65536):
            chunks.append(chunk)
            size += len(chunk)
            while size > MAX_OUTPUT_CHARS and len(chunks) > 1:
                size -= len(chunks.pop(0))

    reader = asyncio.create_task(drain())
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except asyncio.TimeoutError:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        await proc.wait()
        reader.cancel()
        out = b"".join(chunks).decode("utf-8", "replace")[-MAX_OUTPUT_CHARS:]
        return RestartResult(False, None, out + f"\n[timed out after {timeout:g}s]", True)
    try:
        await asyncio.wait_for(reader, 5.0)
    except asyncio.TimeoutError:  # a grandchild holds the pipe open
        reader.cancel()
    out = b"".join(chunks).decode("utf-8", "replace")[-MAX_OUTPUT_CHARS:]
    return RestartResult(proc.returncode == 0, proc.returncode, out)
