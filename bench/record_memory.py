"""Peak memory of a dataset import holding one oversize record (issue 22, item 15).

Writes a JSON array, a CSV table and a JSON lines file whose second record is SIZE MB (one
long string) between two ordinary records, imports each in a fresh subprocess with the
default ``max_record_bytes`` (4 MiB), and prints its peak RSS (``ru_maxrss``) against the
same import of a file whose middle record is small, and what the import reported.

    python bench/record_memory.py [SIZE_MB=200] [WORKDIR=/tmp/record-memory]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, resource, sys
from tuneforge.services.dataset.importing import import_file
try:
    result = import_file(sys.argv[1], None, skip_invalid=True)
    errors = [(e.index, e.line, e.code) for e in result.report.errors[:3]]
    outcome = f"valid={result.report.records_valid} invalid={result.report.records_invalid} errors={errors}"
except Exception as exc:  # an import that fails is an outcome too
    outcome = f"{type(exc).__name__}: {str(exc)[:200]}"
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_mb": round(peak / 1024, 1), "outcome": outcome}))
"""


def _write_big(fh, size_mb: float) -> None:
    """The big value, written a MiB at a time: this process stays small (a child inherits
    its parent's peak RSS across exec, so the bench must not hold the record itself)."""
    left = int(size_mb * 1024 * 1024)
    while left > 0:
        fh.write("x" * min(left, 1 << 20))
        left -= 1 << 20


def write_files(work: Path, size_mb: float) -> dict[str, Path]:
    work.mkdir(parents=True, exist_ok=True)
    small = json.dumps({"instruction": "q", "output": "a"})
    files = {"json": work / "big.json", "csv": work / "big.csv", "jsonl": work / "big.jsonl"}
    with open(files["json"], "w") as fh:
        fh.write("[\n" + small + ',\n{"instruction": "q", "output": "')
        _write_big(fh, size_mb)
        fh.write('"},\n' + small + "\n]\n")
    with open(files["csv"], "w") as fh:
        fh.write("instruction,output\nq,a\nq,")
        _write_big(fh, size_mb)
        fh.write("\nq,a\n")
    with open(files["jsonl"], "w") as fh:
        fh.write(small + '\n{"instruction": "q", "output": "')
        _write_big(fh, size_mb)
        fh.write('"}\n' + small + "\n")
    return files


def peak(path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=False)
    if not out.stdout.strip():
        raise SystemExit(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    work = Path(sys.argv[2] if len(sys.argv) > 2 else "/tmp/record-memory")
    small = write_files(work / "small", 0.001)
    for kind, path in write_files(work, size_mb).items():
        base, big = peak(small[kind]), peak(path)
        print(f"{kind:6} {size_mb} MB record: peak {big['peak_mb']} MB, "
              f"{big['peak_mb'] - base['peak_mb']:+.1f} MB over a small file; {big['outcome']}")


if __name__ == "__main__":
    main()
