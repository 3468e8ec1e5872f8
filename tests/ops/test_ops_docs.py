"""The ops docs keep up with the code: every Config field is in docs/configuration.md (with
its environment variable and help text), every metric in docs/observability.md, and the docs
link only to files that exist.

Regenerate the configuration table after adding a Config field:
    python tests/ops/test_ops_docs.py --write
"""

from __future__ import annotations

import re
import sys
from dataclasses import fields
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"


def config_table() -> str:
    from tuneforge.runtime.config import Config

    rows = ["| key | type | default | environment | what it does |", "|---|---|---|---|---|"]
    for f in fields(Config):
        default = f'"{f.default}"' if isinstance(f.default, str) else f.default
        rows.append(f"| `{f.name}` | {f.type} | `{default}` | `TUNEFORGE_{f.name.upper()}` | {f.metadata.get('help', '')} |")
    return "\n".join(rows)


def write_config_table() -> None:
    path = DOCS / "configuration.md"
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(START)
    _, tail = rest.split(END)
    path.write_text(f"{head}{START}\n{config_table()}\n{END}{tail}", encoding="utf-8")


def test_configuration_doc_lists_every_config_field():
    from tuneforge.runtime.config import Config

    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [f.name for f in fields(Config)
               if f"| `{f.name}` |" not in text or f"`TUNEFORGE_{f.name.upper()}`" not in text
               or f.metadata.get("help", "") not in text]
    assert not missing, f"docs/configuration.md lacks {missing}: run python tests/ops/test_ops_docs.py --write"


def test_observability_doc_lists_every_metric():
    from tuneforge.runtime.metrics import Metrics

    text = (DOCS / "observability.md").read_text(encoding="utf-8")
    names = {f.name + ("_total" if f.type == "counter" else "") for f in Metrics().registry.collect()}
    assert names and not [n for n in names if f"`{n}`" not in text]


def test_docs_link_to_existing_files():
    for doc in list(DOCS.glob("*.md")) + [REPO / "deploy" / "README.md"]:
        for target in re.findall(r"\]\(([^)#]+?)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://")):
                continue
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"


if __name__ == "__main__":
    if "--write" in sys.argv:
        sys.path.insert(0, str(REPO))
        write_config_table()
