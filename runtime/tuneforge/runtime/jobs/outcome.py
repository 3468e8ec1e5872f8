"""How a job ended, decided from what the supervisor saw — a pure function, so every case
sits in one table of tests (tests/runtime/test_job_outcome.py).

Order of precedence: a fault in the engine's own supervision (a full disk, a bug) wins over
everything — the worker was stopped because nobody could record its work; then a requested stop wins over a signal or a clean exit (the job is
CANCELLED, keeping its checkpoint); then a worker whose result says it ``stopped`` early is
CANCELLED too, though no stop came through the API (a SIGTERM from outside: ``docker stop``,
``kubectl delete pod`` or systemd signalling the service and its worker together), with its
checkpoint and resumable — never SUCCEEDED without what it was to produce; a clean exit, or a
re-attached worker, that reported its result SUCCEEDS; a clean exit without a result FAILS
(``NO_RESULT``); anything else FAILS with the worker's own ``error`` event if it sent one,
else with what the exit says (lost, killed by a signal, exit code). A failure that left a
checkpoint says so: the job can be resumed from it. A failure while the data root is (nearly)
full is reported as ``DISK_FULL`` whatever the worker died of, since that is what to fix.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any

from tuneforge.runtime.jobs.model import CANCELLED, FAILED, SUCCEEDED
from tuneforge.runtime.storage import DISK_FULL


@dataclass(frozen=True)
class Ending:
    """What the supervisor knows when a worker is gone."""

    rc: int | None = None  # exit status; None when unknown (a worker this process did not start); < 0: signal
    saw_result: bool = False  # the worker reported a ``result`` event
    stopped: bool = False  # ... and it says ``"stopped": true``: it stopped before finishing
    error: dict[str, Any] | None = None  # its last ``error`` event
    cancel_requested: bool = False
    killed_after_timeout: bool = False  # the engine sent SIGKILL after the stop timeout
    reattached: bool = False  # supervised after a service restart (or found dead at start)
    last_checkpoint: str = ""
    stop_timeout: float = 300.0
    fault: tuple[str, str] | None = None  # (reason, message) of an error in supervision itself
    disk_full: str = ""  # set when the data root is (nearly) full: where, and how much is free


@dataclass(frozen=True)
class Outcome:
    """The terminal state, its stable reason and a message. A SUCCEEDED outcome still runs
    the kind's ``on_success``, which may turn it into a failure."""

    state: str
    reason: str = ""
    message: str = ""


def decide(e: Ending) -> Outcome:
    if e.fault:
        return Outcome(FAILED, *e.fault)
    stopped_by_us = e.rc is None or e.rc <= 0
    if e.cancel_requested and stopped_by_us:
        return _cancelled(e)
    exited_cleanly = e.rc == 0 or (e.rc is None and e.saw_result)
    if exited_cleanly and e.stopped:
        return _stopped_from_outside(e)
    if exited_cleanly and e.saw_result:
        return Outcome(SUCCEEDED)
    reason, message = _failure(e)
    if e.disk_full and reason != DISK_FULL:
        reason, message = DISK_FULL, f"{e.disk_full}; the worker ended: {reason}: {message}"
    if e.last_checkpoint:
        message += f"; last checkpoint {e.last_checkpoint} (resumable)"
    return Outcome(FAILED, reason, message)


def _cancelled(e: Ending) -> Outcome:
    if e.killed_after_timeout:
        return Outcome(CANCELLED, "STOP_TIMEOUT", f"the worker did not stop within {e.stop_timeout:.0f}s and was killed")
    if e.rc is None or e.rc == 0:
        return Outcome(CANCELLED, "", "stopped on request")
    return Outcome(CANCELLED, "", f"stopped on request before the worker could save (it ended on signal {-e.rc})")


def _stopped_from_outside(e: Ending) -> Outcome:
    saved = f"last checkpoint {e.last_checkpoint} (resumable)" if e.last_checkpoint else "it saved no checkpoint"
    return Outcome(CANCELLED, "STOPPED_BY_SIGNAL", "the worker was stopped by a signal that did not come through "
                   "the API (the service stopped with it: docker stop, kubectl delete pod, systemctl stop) and "
                   f"saved before exiting; {saved}")  # fmt: skip


def _failure(e: Ending) -> tuple[str, str]:
    if e.error:
        return e.error.get("reason") or "WORKER_ERROR", e.error.get("message") or "the worker failed"
    if e.rc == 0:
        return "NO_RESULT", "the worker exited 0 without reporting its result"
    if e.rc is None:
        if e.reattached:
            return "WORKER_LOST", "the worker ended while the service was not watching it"
        return "WORKER_LOST", "the worker ended without reporting a result (exit status unknown)"
    if e.rc < 0:
        name = signal.Signals(-e.rc).name if -e.rc in signal.Signals._value2member_map_ else str(-e.rc)
        hint = " (out of memory, or killed by hand)" if e.rc == -signal.SIGKILL else ""
        return "WORKER_KILLED", f"worker killed by {name}{hint}"
    return "WORKER_EXITED", f"worker exited with code {e.rc}"
