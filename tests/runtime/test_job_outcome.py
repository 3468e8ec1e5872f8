"""How a job ended, as one table: what the supervisor saw → state, reason, message."""

from __future__ import annotations

import signal

import pytest

from tuneforge.runtime.jobs.outcome import Ending, decide

KILL, TERM = -signal.SIGKILL, -signal.SIGTERM
ERROR = {"reason": "TRAINING_DIVERGED", "message": "loss is NaN"}

CASES = [
    # (case, ending, state, reason, message contains)
    ("clean exit", Ending(rc=0, saw_result=True), "SUCCEEDED", "", ""),
    ("clean exit without a result fails", Ending(rc=0, saw_result=False), "FAILED", "NO_RESULT", "without reporting"),
    ("clean exit without a result keeps its checkpoint", Ending(rc=0, last_checkpoint="/c/checkpoint-4"),
     "FAILED", "NO_RESULT", "last checkpoint /c/checkpoint-4 (resumable)"),
    ("worker stopped by a signal from outside", Ending(rc=0, saw_result=True, stopped=True, last_checkpoint="/c/checkpoint-17"),
     "CANCELLED", "STOPPED_BY_SIGNAL", "last checkpoint /c/checkpoint-17 (resumable)"),
    ("worker stopped from outside, found after a restart", Ending(rc=None, saw_result=True, stopped=True, reattached=True,
     last_checkpoint="/c/checkpoint-17"), "CANCELLED", "STOPPED_BY_SIGNAL", "docker stop"),
    ("worker stopped from outside before it saved anything", Ending(rc=0, saw_result=True, stopped=True),
     "CANCELLED", "STOPPED_BY_SIGNAL", "saved no checkpoint"),
    ("a stopped result with a failing exit fails", Ending(rc=1, saw_result=True, stopped=True, error=ERROR),
     "FAILED", "TRAINING_DIVERGED", "loss is NaN"),
    ("re-attached worker that reported its result", Ending(rc=None, saw_result=True, reattached=True), "SUCCEEDED", "", ""),
    ("stop, worker saved and exited 0", Ending(rc=0, cancel_requested=True), "CANCELLED", "", "stopped on request"),
    ("stop, re-attached worker gone", Ending(rc=None, cancel_requested=True, reattached=True), "CANCELLED", "", "stopped on request"),
    ("stop, worker died on SIGTERM before saving", Ending(rc=TERM, cancel_requested=True), "CANCELLED", "", "signal 15"),
    ("stop timeout, killed by us", Ending(rc=KILL, cancel_requested=True, killed_after_timeout=True, stop_timeout=20),
     "CANCELLED", "STOP_TIMEOUT", "within 20s"),
    ("stop requested but the worker failed on its own", Ending(rc=1, cancel_requested=True, error=ERROR),
     "FAILED", "TRAINING_DIVERGED", "loss is NaN"),
    ("worker error event", Ending(rc=1, error=ERROR), "FAILED", "TRAINING_DIVERGED", "loss is NaN"),
    ("error event without fields", Ending(rc=1, error={}), "FAILED", "WORKER_EXITED", "code 1"),
    ("error event with an empty reason", Ending(rc=1, error={"message": "x"}), "FAILED", "WORKER_ERROR", "x"),
    ("exit code", Ending(rc=3), "FAILED", "WORKER_EXITED", "code 3"),
    ("SIGKILL (OOM)", Ending(rc=KILL), "FAILED", "WORKER_KILLED", "SIGKILL (out of memory"),
    ("SIGTERM from outside", Ending(rc=TERM), "FAILED", "WORKER_KILLED", "SIGTERM"),
    ("unknown signal number", Ending(rc=-99), "FAILED", "WORKER_KILLED", "99"),
    ("worker gone while the service was down", Ending(rc=None, reattached=True), "FAILED", "WORKER_LOST", "not watching"),
    ("cluster job gone without a status", Ending(rc=None), "FAILED", "WORKER_LOST", "exit status unknown"),
    ("failure with a checkpoint is resumable", Ending(rc=KILL, last_checkpoint="/c/checkpoint-4"),
     "FAILED", "WORKER_KILLED", "last checkpoint /c/checkpoint-4 (resumable)"),
    ("a cancel keeps no resumable note", Ending(rc=0, cancel_requested=True, last_checkpoint="/c/checkpoint-4"),
     "CANCELLED", "", "stopped on request"),
]


@pytest.mark.parametrize(("ending", "state", "reason", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_outcome_table(ending, state, reason, message):
    outcome = decide(ending)
    assert (outcome.state, outcome.reason) == (state, reason)
    assert message in outcome.message


FAULT = ("DISK_FULL", "disk full writing /var/jobs/j/events.jsonl (0 B free of 64.0 MiB)")
FAULT_CASES = [
    ("a supervision fault wins over a clean exit", Ending(rc=0, saw_result=True, fault=FAULT), "FAILED", "DISK_FULL", "events.jsonl"),
    ("a supervision fault wins over a stop", Ending(rc=0, cancel_requested=True, fault=FAULT), "FAILED", "DISK_FULL", "0 B free"),
    ("a bug in supervision", Ending(rc=None, fault=("SUPERVISION_FAILED", "KeyError: 'x'")), "FAILED", "SUPERVISION_FAILED", "KeyError"),
    ("a worker failure on a full data root is DISK_FULL", Ending(rc=1, disk_full="disk full at /var (0 B free)"),
     "FAILED", "DISK_FULL", "the worker ended: WORKER_EXITED"),
    ("the worker's own DISK_FULL is kept as is", Ending(rc=1, error={"reason": "DISK_FULL", "message": "m"}, disk_full="x"),
     "FAILED", "DISK_FULL", "m"),
    ("a full disk does not fail a job that succeeded", Ending(rc=0, saw_result=True, disk_full="x"), "SUCCEEDED", "", ""),
    ("a full disk does not turn a stop into a failure", Ending(rc=0, cancel_requested=True, disk_full="x"), "CANCELLED", "", ""),
]


@pytest.mark.parametrize(("ending", "state", "reason", "message"), [c[1:] for c in FAULT_CASES], ids=[c[0] for c in FAULT_CASES])
def test_outcome_table_with_faults(ending, state, reason, message):
    outcome = decide(ending)
    assert (outcome.state, outcome.reason) == (state, reason)
    assert message in outcome.message
