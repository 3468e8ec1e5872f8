"""Request-time checks of the spec builders.

The pipeline itself (prepare → two epochs → preview → download, the upstream load of the
checkpoint, and a graceful stop) runs end to end through gRPC in ``test_tts_grpc.py``, with
the same worker subprocesses the job engine starts; it is not run twice here.
"""

from __future__ import annotations

import pytest

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.tts.config import TtsTrainingConfig
from tuneforge.services.tts.specs import (
    prepare_spec,
    preview_frame_budget,
    preview_spec,
    train_spec,
)


def test_requests_fail_early_with_clear_errors(catalog, tmp_path, tiny_tts_dir):
    with pytest.raises(TuneforgeError) as err:
        prepare_spec(catalog, base_model=str(tiny_tts_dir))
    assert err.value.reason == "NO_TRANSCRIBED_SAMPLES"
    with pytest.raises(TuneforgeError) as err:
        train_spec(catalog.data_root, "v1", TtsTrainingConfig(base_model=str(tiny_tts_dir)))
    assert err.value.reason == "DATASET_NOT_PREPARED"
    with pytest.raises(TuneforgeError) as err:
        TtsTrainingConfig().merged({"batch_size": 0, "learning_rate": -1, "speaker_name": "a b"})
    assert {v.field for v in err.value.violations} == {"batch_size", "learning_rate", "speaker_name"}
    with pytest.raises(TuneforgeError) as err:
        preview_spec(catalog.data_root, "nope", "hi", tmp_path / "x.wav")
    assert err.value.code.name == "NOT_FOUND"
    assert preview_frame_budget("hello world") < preview_frame_budget("x" * 400) <= 2048


def test_stored_training_config_survives_a_reopen_and_drops_stale_values(catalog):
    from tuneforge.runtime.store import Store
    from tuneforge.services.tts.config import TrainingConfigStore

    stored = TrainingConfigStore(catalog.store)
    assert stored.get() == TtsTrainingConfig()
    assert stored.update({"num_epochs": 5, "speaker_name": "Olga"}).speaker_name == "olga"
    with pytest.raises(TuneforgeError):
        stored.update({"num_epochs": 0})
    again = TrainingConfigStore(Store(catalog.store.path))
    assert (again.get().num_epochs, again.get().speaker_name) == (5, "olga")
    catalog.store.execute(
        "UPDATE tts_settings SET value = ?", ('{"num_epochs": -3, "seed": 7, "gone_field": 1}',)
    )
    assert (stored.get().num_epochs, stored.get().seed) == (3, 7)


def test_training_refuses_a_base_model_other_than_the_one_the_codes_were_prepared_with(catalog, tiny_tts_dir):
    import json

    prepared = catalog.data_root / "tts" / "prepared"
    prepared.mkdir(parents=True)
    (prepared / "train.jsonl").write_text("{}\n")
    (prepared / "meta.json").write_text(json.dumps({"base_model": str(tiny_tts_dir)}))
    with pytest.raises(TuneforgeError) as err:
        train_spec(catalog.data_root, "v1", TtsTrainingConfig(base_model="Qwen/Qwen3-TTS-12Hz-1.7B-Base"))
    assert err.value.reason == "BASE_MODEL_MISMATCH"
    assert err.value.violations[0].field == "config.base_model"
    module, spec = train_spec(catalog.data_root, "v1", TtsTrainingConfig(base_model=str(tiny_tts_dir)))
    assert spec["train_jsonl"].endswith("train.jsonl")
