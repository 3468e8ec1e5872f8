"""generation.halting: inside it a stop (SIGTERM) or the deadline interrupts any Python code —
the chat worker's loading and prompt phases have no place to check a flag — and the halt
survives code that swallows or wraps the exception it raised."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tuneforge.services.trainer.generation import Halted, halting


def _spin(seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        pass


def test_the_deadline_interrupts_busy_python_code():
    started = time.time()
    with pytest.raises(Halted) as err, halting(time.time() + 0.2):
        _spin(30)
    assert err.value.why == "deadline" and time.time() - started < 5


def test_sigterm_interrupts_and_is_told():
    told = []
    with pytest.raises(Halted) as err, halting(None, on_stop=lambda: told.append(1)):
        os.kill(os.getpid(), signal.SIGTERM)
        _spin(30)
    assert err.value.why == "cancelled" and told == [1]


def test_a_halt_the_interrupted_code_swallowed_comes_again():
    swallowed = 0
    started = time.time()
    with pytest.raises(Halted), halting(time.time() + 0.2):
        try:
            _spin(30)
        except Halted:
            swallowed += 1
        _spin(30)
    assert swallowed == 1 and time.time() - started < 5


def test_a_halt_the_interrupted_code_wrapped_is_still_a_halt():
    with pytest.raises(Halted) as err, halting(time.time() + 0.2):
        try:
            _spin(30)
        except BaseException as exc:
            raise RuntimeError("Error calling __set_name__") from exc
    assert err.value.why == "deadline"


def test_a_deadline_already_past_halts_at_once_and_handlers_are_restored():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Halted), halting(time.time() - 1):
        _spin(30)
    assert signal.getsignal(signal.SIGTERM) is before and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
