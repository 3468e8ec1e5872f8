"""Offline experiment tracking: where TensorBoard / MLflow write, and how to look at them.

``report_to`` = ``none`` (default) | ``tensorboard`` | ``mlflow``. Both write under the job's
directory, never to a server: TensorBoard event files in ``jobs/<id>/tensorboard/``, an MLflow
file store in ``jobs/<id>/mlruns/`` (experiment = the adapter name, run = the job id). The
Trainer's own integrations do the writing (``TrainingArguments.report_to``), so every metric
the worker logs — loss, learning rate, DPO's rewards — lands there with no code of ours.
Torch-free: the worker and the service (for ``open-tensorboard``) both use it.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

TENSORBOARD_DIR = "tensorboard"
MLFLOW_DIR = "mlruns"


def tracking_dir(job_dir: Path, report_to: str) -> Path | None:
    if report_to == "tensorboard":
        return Path(job_dir) / TENSORBOARD_DIR
    if report_to == "mlflow":
        return Path(job_dir) / MLFLOW_DIR
    return None


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


def view_command(job_dir: Path, report_to: str, port: int = 6006) -> str:
    """The shell command that shows a job's tracking data (loopback only)."""
    where = tracking_dir(job_dir, report_to)
    if where is None:
        raise ValueError("the job was not tracked (report_to = none)")
    python = shlex.quote(sys.executable)
    if report_to == "tensorboard":
        return (f"{python} -m tensorboard.main --logdir {shlex.quote(str(where))} "
                f"--host 127.0.0.1 --port {port}")
    return (f"mlflow ui --backend-store-uri {shlex.quote(where.resolve().as_uri())} "
            f"--host 127.0.0.1 --port {port}")
