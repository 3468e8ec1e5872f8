"""Offline experiment tracking: where TensorBoard / MLflow write, and how to look at them.

``report_to`` = ``none`` (default) | ``tensorboard`` | ``mlflow``. Both write under the job's
directory, never to a server: TensorBoard event files in ``jobs/<id>/tensorboard/``, an MLflow
file store in ``jobs/<id>/mlruns/`` (experiment = the adapter name, run = the job id). The
Trainer's own integrations do the writing (``TrainingArguments.report_to``), so every metric
the worker logs — loss, learning rate, DPO's rewards — lands there with no code of ours.
Torch-free. Where the files go and the command that shows them live in the client package
(``tuneforge.client.tracking``), which ``open-tensorboard`` runs without the server code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuneforge.client.tracking import tracking_dir


def trainer_kwargs(report_to: str, job_dir: Path | None, run_name: str | None) -> dict[str, Any]:
    """``TrainingArguments`` keywords; ``report_to=[]`` (nothing) without a job directory."""
    where = tracking_dir(job_dir, report_to) if job_dir else None
    if where is None:
        return {"report_to": []}
    kwargs: dict[str, Any] = {"report_to": [report_to], "run_name": run_name}
    if report_to == "tensorboard":
        kwargs["logging_dir"] = str(where)
    return kwargs


def environment(report_to: str, job_dir: Path | None, experiment: str | None) -> dict[str, str]:
    """Environment for the worker: MLflow reads its store and experiment from it."""
    if report_to != "mlflow" or job_dir is None:
        return {}
    where = tracking_dir(job_dir, report_to)
    return {"MLFLOW_TRACKING_URI": where.resolve().as_uri(),
            "MLFLOW_EXPERIMENT_NAME": experiment or "tuneforge",
            "MLFLOW_FLATTEN_PARAMS": "TRUE",
            # MLflow 3 keeps the file store "in maintenance mode" and refuses it unless asked;
            # it is what offline tracking without a database needs.
            "MLFLOW_ALLOW_FILE_STORE": "true"}
