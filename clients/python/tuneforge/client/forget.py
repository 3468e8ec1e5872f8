"""Forgetting a person across services: the dataset, the adapters that learned from it, and
optionally their retraining — what ``tuneforge dataset forget`` runs.

The client orchestrates (each service stays the owner of its data):

1. ``DatasetService.ForgetContact`` writes the dataset's next version without the person's
   messages and removes the old files; it answers with the SHA-256 of every removed text.
2. ``RegistryService.RetractDatasetData`` marks every adapter version trained on an earlier
   version (activation then needs ``force``) and deletes the evaluation samples holding the
   removed texts (matched by those digests, and by the person's id and name).
   Retracting is idempotent: if this step fails (the registry is down), call
   :func:`retract` again with the same forget response.
3. With ``retrain``: for each marked adapter whose current version came from a training job,
   a training job with that job's resolved config on the new dataset version, producing
   ``<adapter>-ds<version>`` (the old adapter stays, marked, until you delete it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tuneforge.dataset.v1 import dataset_pb2
from tuneforge.registry.v1 import registry_pb2
from tuneforge.trainer.v1 import trainer_pb2


@dataclass
class ForgetOutcome:
    forget: dataset_pb2.ForgetContactResponse
    retract: registry_pb2.RetractDatasetDataResponse
    # (adapter it replaces, the training job queued)
    retrain_jobs: list[tuple[str, Any]] = field(default_factory=list)


def retract(client: Any, forget: dataset_pb2.ForgetContactResponse,
            terms: list[str]) -> registry_pb2.RetractDatasetDataResponse:
    """Step 2 (idempotent). The stored reason names no one: the registry keeps no trace of the person."""
    return client.registry.retract_dataset_data(
        dataset=forget.dataset.name, version=forget.dataset.version,
        reason=f"a contact's messages were removed in v{forget.dataset.version}",
        redact_digests=list(forget.removed_digests), redact_terms=[t for t in terms if t])


def forget_contact(client: Any, dataset: str, contact: str, retrain: bool = False) -> ForgetOutcome:
    forget = client.dataset.forget_contact(name=dataset, contact=contact)
    marked = retract(client, forget, [contact, forget.contact_id])
    outcome = ForgetOutcome(forget, marked)
    if retrain:
        for entry in marked.marked:
            if entry.current and entry.job_id:
                outcome.retrain_jobs.append((entry.adapter_name, _retrain(client, entry, forget.dataset)))
    return outcome


def _retrain(client: Any, entry: registry_pb2.AdapterLineageEntry, dataset: dataset_pb2.Dataset) -> Any:
    from tuneforge.client.client import job_params

    params = job_params(client.jobs.get_job(id=entry.job_id), trainer_pb2.TrainingJobParams)
    return client.trainer.create_training_job(
        dataset=dataset.name, base_model=params.base_model, preset=params.preset, config=params.config,
        adapter_name=f"{entry.adapter_name}-ds{dataset.version}",
        request_id=f"retrain-{entry.adapter_name}-v{entry.version}-{dataset.name}-v{dataset.version}")
