"""The model catalog: exported models (GGUF, GGUF LoRA, AWQ, merged) and full fine-tunes
as versions beside their adapter.

The trainer's export job writes a directory under ``<data root>/models/`` ending with
``SHA256SUMS`` and registers it here. Registration verifies every listed file (size and
SHA-256) against that list, so what the catalog serves is exactly what the export wrote; a
later change on disk is caught again when a file is downloaded (MODEL_FILE_CHANGED). Each
(adapter, format, quant) gets versions 1, 2, ... that never repeat; the id reads
``<adapter>-<format>-<quant>-v<N>``. ``request_id`` makes a registration idempotent (the
trainer retries with its job id). Rows live in ``state.db``; files stay where the export put
them (models are large: nothing is copied).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tuneforge.runtime.checksums import CHECKSUMS, read_checksums, sha256_file
from tuneforge.runtime.errors import FieldViolation, TuneforgeError, Code, invalid_argument, not_found
from tuneforge.runtime.names import validate_name
from tuneforge.runtime.store import Store

MIGRATIONS = [
    (
        "registry_models_0001",
        """
        CREATE TABLE registry_models (
            id TEXT PRIMARY KEY,
            adapter_name TEXT NOT NULL,
            format TEXT NOT NULL,
            quant TEXT NOT NULL,
            version INTEGER NOT NULL,
            path TEXT NOT NULL,
            primary_file TEXT NOT NULL DEFAULT '',
            files TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            base_model TEXT NOT NULL DEFAULT '',
            architecture TEXT NOT NULL DEFAULT '',
            job_id TEXT NOT NULL DEFAULT '',
            request_id TEXT UNIQUE,
            create_time TEXT NOT NULL,
            UNIQUE (adapter_name, format, quant, version)
        );
        """,
    ),
]


@dataclass
class ModelFile:
    name: str
    size_bytes: int
    sha256: str


@dataclass
class Model:
    id: str
    adapter_name: str
    format: str
    quant: str
    version: int
    path: str
    primary_file: str
    size_bytes: int
    base_model: str
    architecture: str
    job_id: str
    create_time: str
    files: list[ModelFile] = field(default_factory=list)


class ModelCatalog:
    def __init__(self, store: Store, data_root: Path | str) -> None:
        self.store = store
        self.root = Path(data_root).resolve()
        self.models_dir = self.root / "models"
        self._lock = threading.Lock()
        store.migrate(MIGRATIONS)

    def register(self, *, adapter_name: str, fmt: str, quant: str, path: str, primary_file: str = "",
                 base_model: str = "", architecture: str = "", job_id: str = "", request_id: str = "") -> Model:
        """Record an export directory (verified against its SHA256SUMS) as the next version."""
        if request_id and (row := self.store.query_one(
                "SELECT * FROM registry_models WHERE request_id = ?", (request_id,))):
            return self._model(row)
        validate_name(adapter_name, "adapter_name")
        if not fmt or not quant:
            raise invalid_argument("format" if not fmt else "quant", "required")
        directory = self._confined(path, fmt)
        files = verify_directory(directory)
        if primary_file and primary_file not in {f.name for f in files}:
            raise invalid_argument("primary_file", f"{primary_file} is not listed in {CHECKSUMS}")
        with self._lock, self.store.transaction() as conn:
            row = conn.execute("SELECT MAX(version) AS v FROM registry_models WHERE adapter_name = ? AND format = ?"
                               " AND quant = ?", (adapter_name, fmt, quant)).fetchone()
            version = int(row["v"] or 0) + 1
            model_id = f"{adapter_name}-{fmt}-{quant}-v{version}"
            conn.execute(
                "INSERT INTO registry_models (id, adapter_name, format, quant, version, path, primary_file, files,"
                " size_bytes, base_model, architecture, job_id, request_id, create_time)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (model_id, adapter_name, fmt, quant, version, str(directory), primary_file,
                 json.dumps([f.__dict__ for f in files]), sum(f.size_bytes for f in files), base_model,
                 architecture, job_id, request_id or None, datetime.now(timezone.utc).isoformat()))  # fmt: skip
        return self.get(model_id)

    def get(self, model_id: str) -> Model:
        row = self.store.query_one("SELECT * FROM registry_models WHERE id = ?", (model_id or "",))
        if row is None:
            raise not_found("model", model_id)
        return self._model(row)

    def list(self, offset: int = 0, limit: int = 50, adapter_name: str = "") -> tuple[list[Model], int]:
        where, args = ("WHERE adapter_name = ?", (adapter_name,)) if adapter_name else ("", ())
        total = self.store.query_one(f"SELECT COUNT(*) AS n FROM registry_models {where}", args)["n"]
        rows = self.store.query(f"SELECT * FROM registry_models {where} ORDER BY adapter_name, format, quant,"
                                " version DESC LIMIT ? OFFSET ?", (*args, limit, offset))
        return [self._model(r) for r in rows], int(total)

    def file(self, model_id: str, name: str = "") -> tuple[Path, ModelFile]:
        """(path, its recorded size and checksum) of one file of a model (default: the primary)."""
        model = self.get(model_id)
        name = name or model.primary_file
        if not name:
            raise invalid_argument("file", f"model {model_id} has no single main file; name one of its files")
        listed = {f.name: f for f in model.files}
        if name not in listed:
            raise invalid_argument("file", f"not a file of model {model_id}; one of {', '.join(sorted(listed))}")
        path = Path(model.path) / name
        if not path.is_file() or path.stat().st_size != listed[name].size_bytes:
            raise TuneforgeError(Code.FAILED_PRECONDITION, "MODEL_FILE_CHANGED",
                                 f"{path} is missing or changed since model {model_id} was registered",
                                 metadata={"model": model_id, "file": name})
        return path, listed[name]

    def _confined(self, path: str, fmt: str = "") -> Path:
        """The resolved directory, which must lie under ``models/`` of the data root (a full
        fine-tune's model stays where its training job wrote it: under ``adapters/``)."""
        base = self.root / "adapters" if fmt == "full" else self.models_dir
        resolved = Path(path or "").expanduser().resolve()
        if not path or base.resolve() not in resolved.parents:
            raise invalid_argument("path", f"an export directory under {base}; got {path!r}",
                                   reason="MODEL_PATH_OUTSIDE_DATA_ROOT")
        if not (resolved / CHECKSUMS).is_file():
            raise invalid_argument("path", f"{resolved} holds no {CHECKSUMS}", reason="MODEL_NOT_FOUND")
        return resolved

    def _model(self, row) -> Model:
        files = [ModelFile(**f) for f in json.loads(row["files"])]
        return Model(id=row["id"], adapter_name=row["adapter_name"], format=row["format"], quant=row["quant"],
                     version=row["version"], path=row["path"], primary_file=row["primary_file"],
                     size_bytes=row["size_bytes"], base_model=row["base_model"], architecture=row["architecture"],
                     job_id=row["job_id"], create_time=row["create_time"], files=files)  # fmt: skip


def verify_directory(directory: Path) -> list[ModelFile]:
    """The files of ``SHA256SUMS`` with sizes, each checked (INVALID_ARGUMENT MODEL_CHECKSUM_MISMATCH)."""
    listed = read_checksums(directory)
    if not listed:
        raise invalid_argument("path", f"{directory / CHECKSUMS} lists no files", reason="MODEL_NOT_FOUND")
    files = []
    for name, digest in sorted(listed.items()):
        path = (directory / name).resolve()
        if directory not in path.parents or not path.is_file() or sha256_file(path) != digest:
            raise TuneforgeError(Code.INVALID_ARGUMENT, "MODEL_CHECKSUM_MISMATCH",
                                 f"{name} in {directory} is missing or does not match {CHECKSUMS}",
                                 [FieldViolation("path", f"{name}: checksum mismatch")])
        files.append(ModelFile(name, path.stat().st_size, digest))
    checksums = directory / CHECKSUMS
    files.append(ModelFile(CHECKSUMS, checksums.stat().st_size, sha256_file(checksums)))
    return files
