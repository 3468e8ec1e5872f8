"""Worker: generate a dataset from a project (a ``generate`` job).

    python -m tuneforge.services.dataset.generate_worker --spec SPEC.json

Spec: ``{"dataset_name": "...", "data_root": "...", "options": {GenerateOptions fields},
"validation_split": 0.1, "project_zip": "", "job_id": ""}``. With ``project_zip`` (an
uploaded zip of the project tree) the zip is unpacked safely into a temporary folder and the
``*_dir``/``faq_file`` options are paths inside it; with none given, the whole tree is used
as docs and code.

Events: ``progress`` (phase ``generating``, one step per finished source), ``log``,
``result`` ``{"dataset": DatasetInfo, "report": GenerateReport}``. Errors → ``error`` event,
exit 1, nothing written. A stop before the dataset is created exits 0 with nothing created.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from tuneforge.runtime import worker_events as ev
from tuneforge.runtime.errors import invalid_argument
from tuneforge.runtime.names import confined
from tuneforge.runtime.store import open_store
from tuneforge.services.dataset import generate
from tuneforge.services.dataset.catalog import DatasetCatalog
from tuneforge.services.dataset.stats import DEFAULT_VALIDATION_SPLIT

MAX_UNPACKED_BYTES = 2 * 1024**3
PATH_OPTIONS = (
    "docs_dir",
    "scenarios_dir",
    "faq_file",
    "faq_sqlite_file",
    "escalation_dir",
    "code_dir",
)


def unpack_zip(zip_path: Path, dest: Path) -> None:
    """Unpack member by member: no absolute paths, no ``..``, no links, bounded size."""
    total = 0
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            parts = PurePosixPath(info.filename.replace("\\", "/")).parts
            if not parts or info.filename.startswith("/") or ".." in parts:
                raise invalid_argument(
                    "project_upload_id", f"unsafe path in zip: {info.filename!r}"
                )
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                continue  # symlink
            total += info.file_size
            if total > MAX_UNPACKED_BYTES:
                raise invalid_argument(
                    "project_upload_id", "the zip unpacks to more than 2 GiB"
                )
            target = dest.joinpath(*parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)


def main(spec: dict[str, Any]) -> None:
    for key in ("dataset_name", "data_root"):
        if not spec.get(key):
            raise invalid_argument(key, "is required")
    opts = generate.GenerateOptions.from_dict(dict(spec.get("options") or {}))
    split = spec.get("validation_split")
    split = DEFAULT_VALIDATION_SPLIT if split is None else float(split)
    root = Path(spec["data_root"])
    catalog = DatasetCatalog(open_store(root), root)
    catalog.check_free(spec["dataset_name"])
    work = catalog.work_file()
    with tempfile.TemporaryDirectory(prefix="tuneforge-project-") as tmp:
        if spec.get("project_zip"):
            project = Path(tmp) / "project"
            project.mkdir()
            unpack_zip(Path(spec["project_zip"]), project)
            given = [k for k in PATH_OPTIONS if getattr(opts, k)]
            if not given:
                opts.docs_dir = opts.code_dir = str(project)
            for key in given:
                setattr(opts, key, str(confined(project, getattr(opts, key))))
        done = [0]

        def progress(source: str) -> None:
            done[0] += 1
            ev.progress(phase="generating", step=done[0], message=f"{source} done")

        try:
            report = generate.generate(opts, work, progress)
            ev.log(f"generated {report.records} records {report.records_by_source}, "
                   f"{report.duplicates} duplicates dropped")  # fmt: skip
            for line in report.file_errors:
                ev.log(f"skipped {line}", level="warning")
            if ev.stop_requested():
                ev.log("stop requested: no dataset created", level="warning")
                return
            if report.records == 0:
                raise invalid_argument(
                    "sources", "the sources produced no records", reason="DATASET_EMPTY"
                )
            info = catalog.create(
                spec["dataset_name"], work, source="generate", format="messages",
                validation_split=split, report=report.to_dict(), job_id=str(spec.get("job_id") or ""),
            )  # fmt: skip
        finally:
            work.unlink(missing_ok=True)
    ev.result({"dataset": info.to_dict(), "report": report.to_dict()})


if __name__ == "__main__":
    ev.run_main(main)
