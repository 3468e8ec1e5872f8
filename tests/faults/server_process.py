"""A real ``tuneforge serve`` in a process of its own (what systemd or docker runs), for the
tests that signal, kill or duplicate the whole server. Its stderr goes to a file, read by
polling, so a chatty server never blocks on a full pipe."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

READY = re.compile(r"tuneforge serving .* on [^ ]+:(\d+) ")


class ServerProcess:
    def __init__(self, root: Path, log: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.log = log
        self.port = 0
        self._err = open(log, "wb")  # noqa: SIM115 - closed in wait()/stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tuneforge.cli.main", "serve", *(args or ("all",)), "--port", "0",
             "--data-root", str(root)],
            stdout=subprocess.DEVNULL, stderr=self._err, env={**os.environ, **(env or {})},
        )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self, timeout: float = 90.0) -> ServerProcess:
        """Wait for the "serving" line; fail with the server's stderr if it exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if match := READY.search(self.stderr()):
                self.port = int(match.group(1))
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited with {self.proc.returncode}:\n{self.stderr()[-4000:]}")
            time.sleep(0.05)
        raise AssertionError(f"the server never said it was serving:\n{self.stderr()[-4000:]}")

    def wait(self, timeout: float = 90.0) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._err.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 90.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.wait(30)
