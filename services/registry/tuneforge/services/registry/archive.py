"""Adapter export (a streamed ``.tar.gz``) and import (an archive file or a directory).

Export layout::

    manifest.json          {"format": "tuneforge-adapter/1", name, version, base_model, rank,
                            lora_alpha, target_modules, dataset, metrics, create_time,
                            files: {"adapter_config.json": {"size", "sha256"}, ...}}
    adapter/<file>         the files of adapters/<name>/final/

The stream is built by hand (tar headers from :class:`tarfile.TarInfo`, file bytes, zlib in
gzip mode), so memory stays at one chunk whatever the adapter size.

Import accepts that layout, and also any tar/tar.gz whose single directory holding an
``adapter_config.json`` is the adapter (``tar czf x.tgz my-adapter/`` or files at the top).
The archive is read twice. The first pass validates every member and writes nothing: no
absolute paths, no ``..``, no links (symbolic or hard), no devices/FIFOs, at most
``max_members`` members and ``max_total_bytes`` decompressed bytes — counted on the
decompressed stream as it is read, so a gzip bomb stops at the limit —, a JSON
``adapter_config.json`` that describes a LoRA, a ``adapter_model.safetensors`` with a valid
header, and sha256 sums matching the manifest when there is one. Only then the second pass
extracts into ``adapters/.tmp-*`` and the catalog renames it into place. macOS litter
(``__MACOSX/``, ``._*``, ``.DS_Store``) is ignored, as are files below the adapter's own
directory level (with several ``adapter_config.json``, the shallowest one wins, so a training
output directory with ``checkpoint-*/`` copies imports its final adapter), and files a PEFT
adapter does not use (only :data:`ADAPTER_FILES` are kept). The decompressed stream may not
exceed what the members declare by more than a small margin. Every refusal is INVALID_ARGUMENT with a reason:
``ARCHIVE_FORMAT``, ``ARCHIVE_CORRUPT``, ``ARCHIVE_UNSAFE``, ``ARCHIVE_INVALID``,
``CHECKSUM_MISMATCH`` — except a limit (size, decompressed size, member count), which is
RESOURCE_EXHAUSTED ``ARCHIVE_TOO_LARGE`` (DESIGN.md: limits → RESOURCE_EXHAUSTED).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from tuneforge.runtime.errors import (
    FieldViolation,
    already_exists,
    failed_precondition,
    invalid_argument,
    invalid_fields,
    resource_exhausted,
)
from tuneforge.runtime.names import validate_name
from tuneforge.services.registry.adapters import Adapter, AdapterCatalog
from tuneforge.services.registry.peft_files import (
    ADAPTER_FILES,
    CONFIG_FILE,
    MAX_CONFIG_BYTES,
    WEIGHTS_FILE,
    SafetensorsError,
    check_config,
    parse_safetensors_header,
)

FORMAT = "tuneforge-adapter/1"
MANIFEST = "manifest.json"
ADAPTER_PREFIX = "adapter"
MAX_IMPORT_HEADER_BYTES = 16 * 1024 * 1024  # LoRA headers are tens of KiB
STREAM_MARGIN = 4 * 1024 * 1024  # tar blocks, pax headers and read-ahead beyond declared sizes
_BLOCK = tarfile.BLOCKSIZE


@dataclass(frozen=True)
class ImportLimits:
    max_archive_bytes: int = 8 * 1024**3  # the file as received (compressed)
    max_total_bytes: int = 16 * 1024**3  # decompressed tar stream
    max_members: int = 1000


# ----------------------------------------------------------------- export
def export_adapter(adapter: Adapter, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
    """Yield the ``.tar.gz`` of ``adapter`` in chunks of about ``chunk_size`` bytes."""
    if not adapter.path.is_dir():
        raise failed_precondition("ADAPTER_FILES_MISSING", f"the files of adapter {adapter.name!r} are gone",
                                  adapter=adapter.name)
    paths = sorted(
        p for p in adapter.path.iterdir() if p.is_file() and not p.is_symlink() and not p.name.startswith(".")
    )
    handles = [open(p, "rb") for p in paths]  # opened once: a concurrent replace cannot mix versions
    try:
        files = {}
        for p, f in zip(paths, handles):
            digest, size = hashlib.sha256(), 0
            while block := f.read(chunk_size):
                digest.update(block)
                size += len(block)
            files[p.name] = {"size": size, "sha256": digest.hexdigest()}
            f.seek(0)
        manifest = {
            "format": FORMAT, "name": adapter.name, "version": adapter.version,
            "base_model": adapter.base_model, "rank": adapter.rank, "lora_alpha": adapter.lora_alpha,
            "target_modules": adapter.target_modules, "dataset": adapter.dataset,
            "metrics": adapter.metrics, "create_time": adapter.create_time, "files": files,
        }
        comp = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: gzip container
        out = bytearray()
        written = 0

        def emit(data: bytes) -> Iterator[bytes]:
            nonlocal written
            written += len(data)
            out.extend(comp.compress(data))
            if len(out) >= chunk_size:
                yield bytes(out)
                out.clear()

        now = int(time.time())
        body = json.dumps(manifest, indent=2).encode()
        yield from emit(_header(MANIFEST, len(body), now))
        yield from emit(body + _padding(len(body)))
        for p, f in zip(paths, handles):
            size = files[p.name]["size"]
            yield from emit(_header(f"{ADAPTER_PREFIX}/{p.name}", size, now))
            while block := f.read(chunk_size):
                yield from emit(block)
            yield from emit(_padding(size))
        end = b"\0" * (2 * _BLOCK)
        yield from emit(end + b"\0" * (-(written + len(end)) % tarfile.RECORDSIZE))
        out.extend(comp.flush())
        if out:
            yield bytes(out)
    finally:
        for f in handles:
            f.close()


def _header(name: str, size: int, mtime: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _padding(size: int) -> bytes:
    return b"\0" * (-size % _BLOCK)


# ----------------------------------------------------------------- import
def import_path(
    catalog: AdapterCatalog, path: Path | str, name: str | None = None, *, replace: bool = False,
    limits: ImportLimits = ImportLimits(),
) -> Adapter:
    """Import an adapter directory or an archive file (what ``tuneforge adapters import`` takes)."""
    path = Path(path)
    if path.is_dir():
        if name is None:
            base = path.resolve()
            name = base.parent.name if base.name == "final" else base.name
        return catalog.import_directory(validate_name(name), path, replace=replace)
    if not path.is_file():
        raise invalid_argument("path", f"{str(path)!r} is neither a directory nor a file", reason="NOT_FOUND")
    return import_archive(catalog, path, name, replace=replace, limits=limits)


def import_archive(
    catalog: AdapterCatalog, archive: Path | str, name: str | None = None, *, replace: bool = False,
    limits: ImportLimits = ImportLimits(), before_replace: Callable[[str], None] | None = None,
) -> Adapter:
    """Validate ``archive`` completely, then install it as adapter ``name`` (default: the
    manifest's name). Raises INVALID_ARGUMENT (see module doc), RESOURCE_EXHAUSTED
    ``ARCHIVE_TOO_LARGE`` or ALREADY_EXISTS."""
    archive = Path(archive)
    if name is not None:
        validate_name(name)
        if not replace and catalog.exists(name):
            raise already_exists("adapter", name)
    size = archive.stat().st_size
    if size > limits.max_archive_bytes:
        raise _too_large(f"archive is {size} bytes, the limit is {limits.max_archive_bytes}")
    scan = _scan(archive, limits)
    manifest = scan.manifest or {}
    if name is None:
        name = manifest.get("name") if isinstance(manifest.get("name"), str) else None
        if name is None:
            raise invalid_argument("name", "is required: the archive has no manifest naming the adapter")
        validate_name(name)
        if not replace and catalog.exists(name):
            raise already_exists("adapter", name)
    if replace and before_replace is not None:
        before_replace(name)
    staging = catalog.staging_dir()
    try:
        _extract(archive, scan, staging / "final", limits)
        metrics = manifest.get("metrics") if isinstance(manifest.get("metrics"), dict) else {}
        dataset = manifest.get("dataset") if isinstance(manifest.get("dataset"), str) else ""
        metrics = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        return catalog.install_staged(name, staging, source="archive", replace=replace, dataset=dataset, metrics=metrics)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def export_to_file(adapter: Adapter, dest: Path | str) -> tuple[int, str]:
    """Write the export archive to ``dest`` (via a temp name beside it); return (size, sha256),
    which a download's first message needs before any byte is sent."""
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.part")
    digest, size = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as f:
            for chunk in export_adapter(adapter):
                digest.update(chunk)
                size += len(chunk)
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return size, digest.hexdigest()


@dataclass
class _Scan:
    root: PurePosixPath | None = None
    files: dict[str, tuple[int, str]] = field(default_factory=dict)  # archive path -> (size, sha256)
    manifest: dict[str, Any] | None = None


class _TooBig(Exception):
    pass


class _CountingReader(io.RawIOBase):
    """Counts decompressed bytes as tarfile reads them and stops at the limit (gzip bombs),
    and at what the members seen so far declare plus :data:`STREAM_MARGIN` — so headers that
    tarfile reads whole (pax records, long names) cannot unpack to more than was declared."""

    def __init__(self, inner: BinaryIO, limit: int) -> None:
        self.inner, self.limit, self.count = inner, limit, 0
        self.declared = STREAM_MARGIN

    def declare(self, member_size: int) -> None:
        self.declared += _BLOCK + member_size + (-member_size % _BLOCK)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self.inner.read(len(b))
        self.count += len(data)
        if self.count > self.limit:
            raise _TooBig(f"archive decompresses to more than {self.limit} bytes")
        if self.count > self.declared:
            raise _TooBig(f"archive unpacks to more than its members declare (over {self.declared} bytes)")
        b[: len(data)] = data
        return len(data)


def _open_stream(archive: Path, limits: ImportLimits):
    raw = open(archive, "rb")
    head = raw.read(512)
    raw.seek(0)
    if head[:2] == b"\x1f\x8b":
        inner: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb")
    elif len(head) >= 262 and head[257:262] == b"ustar":
        inner = raw
    else:
        raw.close()
        raise invalid_argument("archive", "is not a tar or tar.gz archive", reason="ARCHIVE_FORMAT")
    counter = _CountingReader(inner, limits.max_total_bytes)
    reader = io.BufferedReader(counter, 1024 * 1024)
    return raw, tarfile.open(fileobj=reader, mode="r|"), counter


@contextlib.contextmanager
def _archive_errors() -> Iterator[None]:
    """Turn what a truncated or corrupt stream raises into INVALID_ARGUMENT (oversized:
    RESOURCE_EXHAUSTED)."""
    try:
        yield
    except _TooBig as exc:
        raise _too_large(str(exc)) from None
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise invalid_argument("archive", f"is corrupt: {exc}", reason="ARCHIVE_CORRUPT") from None


def _members(archive: Path, limits: ImportLimits) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo, PurePosixPath | None]]:
    """Yield (tar, member, safe path or None for litter), enforcing every safety rule."""
    raw, tar, counter = _open_stream(archive, limits)
    count, declared, seen = 0, 0, set()
    try:
        with _archive_errors(), tar:
            for member in tar:
                counter.declare(member.size)
                count += 1
                if count > limits.max_members:
                    raise _too_large(f"archive has more than {limits.max_members} members")
                path = _safe_path(member.name)
                if not (member.isreg() or member.isdir()):
                    kind = ("a symbolic link" if member.issym() else "a hard link" if member.islnk()
                            else "a device file" if member.isdev() else f"of type {member.type!r}")
                    raise _unsafe(member.name, f"is {kind}; only regular files and directories are allowed")
                if member.isreg():
                    if path in seen:
                        raise _unsafe(member.name, "appears twice in the archive")
                    seen.add(path)
                declared += member.size
                if declared > limits.max_total_bytes:
                    raise _too_large(f"archive members add up to more than {limits.max_total_bytes} bytes")
                yield tar, member, None if _is_litter(path) else path
    finally:
        raw.close()


def _scan(archive: Path, limits: ImportLimits) -> _Scan:
    scan = _Scan()
    configs: dict[str, bytes] = {}
    headers: dict[str, tuple[bytes, int]] = {}
    with _archive_errors():
        _read_members(archive, limits, scan, configs, headers)
    manifest_raw = configs.pop(MANIFEST, None)
    roots = sorted({str(PurePosixPath(k).parent) for k in configs})
    if not roots:
        raise invalid_fields([FieldViolation(CONFIG_FILE, "is missing from the archive")], reason="ARCHIVE_INVALID")
    # A training output dir holds the adapter and checkpoint-*/ copies: take the shallowest.
    depth = min(len(PurePosixPath(r).parts) for r in roots)
    top = [r for r in roots if len(PurePosixPath(r).parts) == depth]
    if len(top) > 1:
        raise invalid_argument("archive", f"holds several adapters ({', '.join(top)})", reason="ARCHIVE_INVALID")
    scan.root = PurePosixPath(top[0])
    problems: list[FieldViolation] = []
    cfg_key = str(scan.root / CONFIG_FILE)
    if scan.files[cfg_key][0] > MAX_CONFIG_BYTES:
        problems.append(FieldViolation(CONFIG_FILE, "is larger than 1 MiB"))
    else:
        problems += check_config(configs[cfg_key])[1]
    w_key = str(scan.root / WEIGHTS_FILE)
    if w_key not in headers:
        problems.append(FieldViolation(WEIGHTS_FILE, "is missing from the archive"))
    else:
        head, size = headers[w_key]
        try:
            if len(head) >= 8 and int.from_bytes(head[:8], "little") > MAX_IMPORT_HEADER_BYTES:
                raise SafetensorsError("header is larger than 16 MiB")
            parse_safetensors_header(head, size)
        except SafetensorsError as exc:
            problems.append(FieldViolation(WEIGHTS_FILE, f"is not a valid safetensors file: {exc}"))
    if manifest_raw is not None:
        try:
            scan.manifest = json.loads(manifest_raw.decode("utf-8"))
            if not isinstance(scan.manifest, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            problems.append(FieldViolation(MANIFEST, f"is not valid JSON: {exc}"))
            scan.manifest = None
    if problems:
        raise invalid_fields(problems, reason="ARCHIVE_INVALID", message="the archive does not hold a valid adapter")
    listed = (scan.manifest or {}).get("files")
    if isinstance(listed, dict):
        for fname, meta in listed.items():
            got = scan.files.get(str(scan.root / fname))
            want_sha = meta.get("sha256") if isinstance(meta, dict) else None
            if got is None or got[1] != want_sha:
                raise invalid_argument(
                    f"archive/{fname}", "is missing or does not match the manifest's sha256",
                    reason="CHECKSUM_MISMATCH",
                )
    return scan


def _read_members(
    archive: Path, limits: ImportLimits, scan: _Scan, configs: dict[str, bytes],
    headers: dict[str, tuple[bytes, int]],
) -> None:
    """First pass: hash every file; keep the config, the manifest and the weights' header."""
    for tar, member, path in _members(archive, limits):
        if path is None or not member.isreg():
            continue
        key = str(path)
        f = tar.extractfile(member)
        digest, keep, pos = hashlib.sha256(), bytearray(), 0
        want = MAX_CONFIG_BYTES if path.name in (CONFIG_FILE, MANIFEST) else 0
        if path.name == WEIGHTS_FILE:
            want = 8  # then the header length it announces (capped)
        while block := f.read(1024 * 1024):
            digest.update(block)
            while len(keep) < want and pos + len(block) > len(keep):
                keep.extend(block[len(keep) - pos : want - pos])
                if path.name == WEIGHTS_FILE and want == 8 and len(keep) >= 8:
                    want = 8 + min(int.from_bytes(keep[:8], "little"), MAX_IMPORT_HEADER_BYTES)
            pos += len(block)
        scan.files[key] = (member.size, digest.hexdigest())
        if path.name == CONFIG_FILE:
            configs[key] = bytes(keep)
        elif path.name == WEIGHTS_FILE:
            headers[key] = (bytes(keep), member.size)
        elif key == MANIFEST:
            configs[MANIFEST] = bytes(keep)


def _extract(archive: Path, scan: _Scan, dest: Path, limits: ImportLimits) -> None:
    dest.mkdir(parents=True)
    assert scan.root is not None
    with _archive_errors():
        for tar, member, path in _members(archive, limits):
            if path is None or not member.isreg() or path.parent != scan.root or path.name not in ADAPTER_FILES:
                continue  # litter, nested copies, and files a PEFT adapter does not use
            f = tar.extractfile(member)
            digest = hashlib.sha256()
            with open(dest / path.name, "xb") as out:
                while block := f.read(1024 * 1024):
                    digest.update(block)
                    out.write(block)
            if digest.hexdigest() != scan.files[str(path)][1]:
                raise invalid_argument("archive", "changed while it was being imported", reason="ARCHIVE_CORRUPT")


def _safe_path(name: str) -> PurePosixPath:
    if not name or "\x00" in name or "\\" in name:
        raise _unsafe(name, "has an empty or unsafe name")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise _unsafe(name, "is an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise _unsafe(name, "climbs out with '..'")
    if not parts:
        return PurePosixPath(".")
    return PurePosixPath(*parts)


def _is_litter(path: PurePosixPath) -> bool:
    return bool(path.parts) and (
        path.parts[0] == "__MACOSX" or path.name.startswith("._") or path.name == ".DS_Store"
    )


def _unsafe(name: str, why: str):
    return invalid_argument(f"archive/{name}", why, reason="ARCHIVE_UNSAFE",
                            message=f"unsafe archive member {name!r}: {why}")


def _too_large(why: str):
    return resource_exhausted("ARCHIVE_TOO_LARGE", f"archive refused: {why}")
