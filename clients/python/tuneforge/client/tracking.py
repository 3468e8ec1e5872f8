"""Where a training job's offline tracking data lies, and the command that shows it.

``report_to`` = ``tensorboard`` writes event files to ``<data root>/jobs/<id>/tensorboard/``,
``mlflow`` a file store to ``<data root>/jobs/<id>/mlruns/``. The layout is part of the
contract between the trainer (whose worker writes there: ``services/trainer/tracking.py``
imports these names) and ``tuneforge train open-tensorboard`` (which prints the command to
run on the server's machine), so it is written once, here, where both can import it.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

TENSORBOARD_DIR = "tensorboard"
MLFLOW_DIR = "mlruns"


def tracking_dir(job_dir: Path, report_to: str) -> Path | None:
    if report_to == "tensorboard":
        return Path(job_dir) / TENSORBOARD_DIR
    if report_to == "mlflow":
        return Path(job_dir) / MLFLOW_DIR
    return None


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
