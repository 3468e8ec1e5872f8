"""The thinking policy of an adapter version: the ``enable_thinking`` value it was trained with.

Qwen3-style chat templates have a switch: with ``enable_thinking=False`` the generation
prompt ends with an empty think block (``<think>\\n\\n</think>\\n\\n``), with it on (their
default) the model is left to open its own. The trainer renders every reply without reasoning
in the ``enable_thinking=False`` context (services/trainer/chat_data.py ``_render``), and a
reply that carries its own ``<think>…</think>`` with the switch on. A server that renders the
other way asks the adapter a question it never saw — the "thinking mode differs between the
trainer and the server" complaint. So at registration the registry records the policy:

* unset (None) when the chat template (the adapter's own ``chat_template.jinja`` or
  ``tokenizer_config.json``, else the base model's when it is a directory here) does not
  mention ``enable_thinking``, or no template was found;
* ``True`` when the adapter's dataset (under the data root) trains replies that hold a think
  block (``</think>``), a metric ``enable_thinking`` of 1 from the trainer says so too;
* ``False`` otherwise (the trainer's rendering of plain replies).

The registry sends it to vLLM as ``chat_template_kwargs: {"enable_thinking": …}`` for served
chats (served_chat.py) and conformance checks (conformance.py), and ``adapters show`` prints it.
"""

from __future__ import annotations

import json
from pathlib import Path

from tuneforge.runtime.store import Store
from tuneforge.services.registry.adapters import Adapter, utc_now

SWITCH = "enable_thinking"
SCAN_RECORDS = 2000  # dataset records looked at for think blocks

MIGRATIONS = [
    (
        "registry_0011_thinking_policy",
        """
        CREATE TABLE registry_thinking (
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            enable_thinking INTEGER,
            record_time TEXT NOT NULL,
            PRIMARY KEY (name, version)
        );
        """,
    ),
]


def chat_template(directory: Path | str) -> str | None:
    """The chat template saved in a model or adapter directory, or None."""
    root = Path(directory)
    try:
        jinja = root / "chat_template.jinja"
        if jinja.is_file():
            return jinja.read_text(encoding="utf-8", errors="replace")
        cfg_path = root / "tokenizer_config.json"
        if cfg_path.is_file():
            template = json.loads(cfg_path.read_text(encoding="utf-8", errors="replace")).get("chat_template")
            if isinstance(template, list):  # named templates: [{"name", "template"}]
                return "\n".join(str(t.get("template") or "") for t in template if isinstance(t, dict))
            return template if isinstance(template, str) else None
    except (OSError, ValueError, AttributeError):
        return None
    return None


def trains_reasoning(data_root: Path, dataset: str) -> bool:
    """Whether the dataset's assistant replies hold a think block (first SCAN_RECORDS records)."""
    if not dataset or "/" in dataset or dataset.startswith("."):
        return False
    path = Path(data_root) / "datasets" / dataset / "data.jsonl"
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for n, line in enumerate(fh):
                if n >= SCAN_RECORDS:
                    return False
                if "</think>" not in line:
                    continue
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                for m in (row.get("messages") or []) if isinstance(row, dict) else []:
                    if isinstance(m, dict) and m.get("role") == "assistant" and "</think>" in str(m.get("content")):
                        return True
    except OSError:
        return False
    return False


def thinking_policy(adapter: Adapter, data_root: Path) -> bool | None:
    """The ``enable_thinking`` value ``adapter`` was trained with (module doc); None: no switch."""
    template = chat_template(adapter.path)
    if template is None and adapter.base_model and Path(adapter.base_model).is_dir():
        template = chat_template(adapter.base_model)
    if not template or SWITCH not in template:
        return None
    if adapter.metrics.get(SWITCH) is not None:
        return bool(adapter.metrics[SWITCH])
    return trains_reasoning(data_root, adapter.dataset)


class ThinkingStore:
    """The policy per adapter version, recorded at registration."""

    def __init__(self, store: Store, data_root: Path | str) -> None:
        self.store = store
        self.data_root = Path(data_root)
        store.migrate(MIGRATIONS)

    def record(self, adapter: Adapter) -> bool | None:
        policy = thinking_policy(adapter, self.data_root)
        self.store.execute(
            "INSERT OR REPLACE INTO registry_thinking(name, version, enable_thinking, record_time) VALUES (?,?,?,?)",
            (adapter.name, adapter.version, None if policy is None else int(policy), utc_now()))
        return policy

    def get(self, name: str, version: int) -> bool | None:
        row = self.store.query_one("SELECT enable_thinking FROM registry_thinking WHERE name=? AND version=?",
                                   (name, version))
        return None if row is None or row["enable_thinking"] is None else bool(row["enable_thinking"])

    def kwargs(self, adapter: Adapter) -> dict:
        """What a chat request to vLLM adds for this version ({} without a policy)."""
        policy = self.get(adapter.name, adapter.version)
        return {} if policy is None else {"chat_template_kwargs": {SWITCH: policy}}


__all__ = ["ThinkingStore", "chat_template", "thinking_policy", "trains_reasoning"]
