"""Fixtures for the trainer tests: the tiny Qwen2 model (built once).

A full training run (loss falls, stop + resume, PeftModel, merge) is tested once, through
gRPC, in test_trainer_grpc.py; the worker-level tests here cover what the service cannot reach.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    from tuneforge.testing.tiny_lm import cached_tiny_lm

    return cached_tiny_lm()
