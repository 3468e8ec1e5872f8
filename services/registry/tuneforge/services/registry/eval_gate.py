"""The activation gate: no adapter goes live unless its evaluation says it sounds more like
the owner than the base model does.

Called from one place (the ActivateAdapter RPC) before anything is changed, when the request
asks for it (``require_eval``) or the registry setting ``activation_requires_eval`` makes it
the default. It refuses with FAILED_PRECONDITION and a reason a client can act on:

* ``EVALUATION_MISSING`` — no report for the adapter's current version (run
  ``tuneforge adapters eval NAME``);
* ``EVALUATION_NOT_BETTER`` — the report's adapter style score is not above the base's.
"""

from __future__ import annotations

from tuneforge.runtime.errors import failed_precondition
from tuneforge.services.registry.evaluations import EvaluationStore, closer_to_owner


def check_activation(evaluations: EvaluationStore, name: str) -> None:
    adapter = evaluations.catalog.get(name)
    report = evaluations.latest(name, adapter.version)
    if report is None:
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
            f"(style score {own:.3f} vs base {base:.3f}); train more or on better data, or "
            "activate without require_eval",
            adapter=name, version=str(adapter.version))
