"""Fixtures for the distributed launchers' tests: the tiny Qwen2 model, the trainer helpers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trainer"))


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    from tuneforge.testing.tiny_lm import cached_tiny_lm

    return cached_tiny_lm()
