"""``SHA256SUMS`` files (the ``sha256sum -c`` format) over a directory of exported files.

The export worker writes one as its last step; the registry verifies it when it registers the
directory and serves each file's checksum with its download, so the trainer and the registry
(separate services) agree on the bytes without sharing code beyond this runtime module.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

CHECKSUMS = "SHA256SUMS"

__all__ = ["CHECKSUMS", "read_checksums", "sha256_file", "write_checksums"]


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(directory: Path) -> dict[str, str]:
    """Write ``SHA256SUMS`` over every file under ``directory``; return {relative path: sha256}."""
    directory = Path(directory)
    sums = {p.relative_to(directory).as_posix(): sha256_file(p)
            for p in sorted(directory.rglob("*")) if p.is_file() and p.name != CHECKSUMS}
    (directory / CHECKSUMS).write_text("".join(f"{h}  {name}\n" for name, h in sums.items()), encoding="utf-8")
    return sums


def read_checksums(directory: Path) -> dict[str, str]:
    """{relative path: sha256} from ``directory/SHA256SUMS`` (empty when there is none)."""
    path = Path(directory) / CHECKSUMS
    out: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            digest, _, name = line.partition("  ")
            if digest and name:
                out[name.lstrip("*")] = digest
    return out
