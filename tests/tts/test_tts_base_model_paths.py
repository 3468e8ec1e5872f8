"""The TTS base model a client names is confined like every server path (docs/security.md):
a hub id passes as it is, a path must lie under the data root, models_dir or allowed_paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from tuneforge.client import Client, InvalidArgument


@pytest.fixture
def strict(server_factory, tmp_path):
    """A server that lets requests name only its data root and ``tmp_path/allowed``."""
    srv = server_factory(allowed_paths=str(tmp_path / "allowed"))
    with Client(srv.target, timeout=60) as c:
        yield srv, c


def test_a_base_model_path_outside_the_allowed_roots_is_refused_naming_the_field(strict, tmp_path):
    srv, c = strict
    before = c.tts.get_tts_training_config()
    refusals = {
        "config.base_model": [
            lambda raw: c.tts.update_tts_training_config(config={"base_model": raw}, update_mask=["base_model"]),
            lambda raw: c.tts.start_training(model_name="v1", config={"base_model": raw}),
        ],
        "base_model": [lambda raw: c.tts.prepare_dataset(base_model=raw)],
    }
    answers = set()
    for field, calls in refusals.items():
        for call in calls:
            for raw in ("/etc", str(tmp_path / "no-such-model-7f3a"), "../../outside", "~"):
                with pytest.raises(InvalidArgument) as err:
                    call(raw)
                (violation,) = err.value.field_violations
                assert (err.value.reason, violation.field) == ("PATH_NOT_ALLOWED", field), raw
                # the client's path as sent, or cut to its name (statuses show no absolute server path)
                answers.add(violation.description.replace(repr(raw), "P").replace(repr(Path(raw).name), "P"))
    assert answers == {"P is not under the data root or a directory listed in allowed_paths"}
    assert c.tts.get_tts_training_config() == before
    assert c.jobs.list_jobs(service="tts").total_size == 0


def test_a_hub_id_passes_as_is_and_an_allowed_path_is_stored_resolved(strict, tmp_path):
    srv, c = strict
    accepted = {
        "Qwen/Qwen3-TTS-12Hz-0.6B-Base": "Qwen/Qwen3-TTS-12Hz-0.6B-Base",
        "./models/tts-base": str((srv.config.root / "models" / "tts-base").resolve()),
        str(tmp_path / "allowed" / "tts"): str((tmp_path / "allowed" / "tts").resolve()),
    }
    for raw, stored in accepted.items():
        config = c.tts.update_tts_training_config(config={"base_model": raw}, update_mask=["base_model"])
        assert config.base_model == stored
