"""The activation gate: no adapter goes live unless an evaluation job of this installation
measured it and found it sounds more like the owner than the base model does.

Operator policy binds: with the setting ``activation_requires_eval`` on, the activation
manager calls :func:`check_activation` before every change that puts an adapter in front of
users — activate, rollback, serve — whichever client asks (CLI, SDK, the web console, all
through the same RPCs); a request's ``require_eval=false`` cannot turn it off (the attempt
is logged). With the setting off, ``require_eval=true`` still asks for the gate on one
activation. The only override is the operator's: turning the setting off.

Only a report of ``evaluation_job`` provenance counts (see evaluations.py): one a client
sent is kept and shown, never trusted. Refusals are FAILED_PRECONDITION with a reason a
client can act on:

* ``EVALUATION_MISSING`` — no report for the adapter's current version (run
  ``tuneforge adapters eval NAME``);
* ``EVALUATION_NOT_TRUSTED`` — only a report a client sent (or one stored before provenance
  was recorded): run the evaluation job;
* ``EVALUATION_NOT_BETTER`` — the job's adapter style score is not above the base's.
"""

from __future__ import annotations

from tuneforge.runtime.errors import failed_precondition
from tuneforge.services.registry.evaluations import EvaluationStore, closer_to_owner


def check_activation(evaluations: EvaluationStore, name: str) -> None:
    adapter = evaluations.catalog.get(name)
    report = evaluations.trusted(name, adapter.version)
    if report is None:
        shown = evaluations.latest(name, adapter.version)
        if shown is not None:
            raise failed_precondition(
                "EVALUATION_NOT_TRUSTED",
                f"adapter {name} v{adapter.version} has only a report no evaluation job of this "
                f"installation produced ({shown['provenance']}); activation requires one: run "
                f"`tuneforge adapters eval {name}`", adapter=name, version=str(adapter.version))
        raise failed_precondition(
            "EVALUATION_MISSING",
            f"adapter {name} v{adapter.version} has no evaluation report and activation requires "
            f"one; run `tuneforge adapters eval {name}` first",
            adapter=name, version=str(adapter.version))
    if not closer_to_owner(report):
        base, own = report["base"]["style_score"], report["adapter"]["style_score"]
        raise failed_precondition(
            "EVALUATION_NOT_BETTER",
            f"adapter {name} v{adapter.version} is no closer to the owner than its base model "
            f"(style score {own:.3f} vs base {base:.3f}); train more or on better data",
            adapter=name, version=str(adapter.version))
