"""Who is in a dataset, and forgetting one of them.

A Telegram dataset's records keep where they came from (``telegram_ids``, written by
dialogs.py): the chat, each message's id and author id (``from``; "" for the owner) and the
authors' display names (``names``; left out when the import scrubbed names). From that:

* :func:`list_contacts` — every person whose messages a dataset holds, with how many of their
  messages are user turns of their personal chats and how many are group context;
* :func:`forget_contact` — the dataset's next version without every record that holds one of
  that person's messages (their personal chats, and the group dialogs they wrote in: a group
  dialog is dropped whole rather than cut, so no reply to them and no quote of them stays).
  The old version's files are removed (catalog.rewrite); the person is taken off the stored
  import report's contacts list too. The SHA-256 of every message text of the removed records
  is returned so the registry can delete evaluation samples built from them without the text
  leaving this service. Contacts are matched like ``--exclude-contact`` at import: a display
  name (case and spacing ignored) or an id with or without ``user``; one that matches nobody
  is an error listing the close ones (dialogs.close_contacts). The contact's digest (SHA-256 of
  the id, never the id) is remembered, so an ``--append-to`` of a newer export leaves them out.

Records without ``from`` (imported before provenance was kept, or not from Telegram) cannot be
attributed: a dataset with none is FAILED_PRECONDITION ``DATASET_NO_PROVENANCE``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import failed_precondition, invalid_argument
from tuneforge.services.dataset.catalog import DatasetCatalog, DatasetInfo
from tuneforge.services.dataset.dialogs import close_contacts, contact_digest, contact_keys


@dataclass
class ContactRow:
    id: str
    name: str = ""
    messages_as_user: int = 0
    messages_in_groups: int = 0
    records: int = 0


@dataclass
class ForgetResult:
    old: DatasetInfo
    new: DatasetInfo
    contact_id: str
    records_removed: int = 0
    messages_removed: int = 0
    digests: list[str] = field(default_factory=list)


def _provenance(record: dict[str, Any]) -> tuple[Any, list[str], dict[str, str]] | None:
    ids = record.get("telegram_ids")
    if not isinstance(ids, dict) or not isinstance(ids.get("from"), list):
        return None
    names = ids.get("names") if isinstance(ids.get("names"), dict) else {}
    return ids.get("chat"), [str(a or "") for a in ids["from"]], {str(k): str(v) for k, v in names.items()}


def _records(info: DatasetInfo) -> Iterator[dict[str, Any]]:
    for path in (info.path, info.validation_path):
        if path and Path(path).is_file():
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        yield json.loads(line)


def list_contacts(catalog: DatasetCatalog, name: str) -> list[ContactRow]:
    """Everyone whose messages ``name`` holds, most messages first."""
    rows: dict[str, ContactRow] = {}
    attributed = 0
    for record in _records(catalog.get(name)):
        prov = _provenance(record)
        if prov is None:
            continue
        attributed += 1
        chat, authors, names = prov
        for author, n in Counter(a for a in authors if a).items():
            row = rows.setdefault(author, ContactRow(author))
            row.name = row.name or names.get(author, "")
            row.records += 1
            if author.removeprefix("user") == str(chat):  # a personal chat's id is the peer's
                row.messages_as_user += n
            else:
                row.messages_in_groups += n
    if not attributed and catalog.get(name).record_count:
        raise _no_provenance(name)
    return sorted(rows.values(), key=lambda r: (-(r.messages_as_user + r.messages_in_groups), r.id))


def _no_provenance(name: str) -> Exception:
    return failed_precondition(
        "DATASET_NO_PROVENANCE",
        f"dataset {name!r} keeps no message authors (made from a file, or a Telegram export imported "
        "before provenance was kept); import the export again to list or forget contacts",
        dataset=name)


def resolve_contact(rows: Iterable[ContactRow], contact: str) -> ContactRow:
    """The one contact ``contact`` names (id with or without ``user``, or display name)."""
    rows = list(rows)
    wanted = contact_keys(contact, contact)
    for row in rows:
        if contact_keys(row.name, row.id) & wanted:
            return row
    known = {row.name or row.id: row.id for row in rows}
    raise invalid_argument(
        "contact", f"no contact in this dataset matches {contact!r} (close: {close_contacts(contact, known)}); "
        "give a contact's id or name as `dataset contacts` lists it", reason="CONTACT_NOT_FOUND")


def forget_contact(catalog: DatasetCatalog, name: str, contact: str) -> ForgetResult:
    """The next version of ``name`` without ``contact``'s messages (see the module doc)."""
    if not contact.strip():
        raise invalid_argument("contact", "is required: a contact's id or name")
    row = resolve_contact(list_contacts(catalog, name), contact)
    removed = {"records": 0, "messages": 0}
    digests: set[str] = set()

    def keep(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for record in records:
            prov = _provenance(record)
            if prov is None or row.id not in prov[1]:
                yield record
                continue
            removed["records"] += 1
            removed["messages"] += sum(1 for a in prov[1] if a == row.id)
            digests.update(text_digest(t) for t in record_texts(record))

    report = dict(catalog.get(name).report)
    if isinstance(report.get("contacts"), list):
        report["contacts"] = [c for c in report["contacts"]
                              if not (isinstance(c, dict) and contact_keys(str(c.get("name", "")), "")
                                      & contact_keys(row.name, row.id))]
    old, new = catalog.rewrite(name, keep, report=report)
    catalog.remember_forgotten(name, contact_digest(row.id))
    return ForgetResult(old, new, row.id, removed["records"], removed["messages"], sorted(digests))


def record_texts(record: dict[str, Any]) -> list[str]:
    """Every message text of a record (messages or ShareGPT conversations)."""
    out = []
    for m in record.get("messages") or record.get("conversations") or ():
        if isinstance(m, dict):
            text = m.get("content", m.get("value"))
            if isinstance(text, str) and text.strip():
                out.append(text)
    return out


def text_digest(text: str) -> str:
    """What the registry compares evaluation sample texts by (stripped, UTF-8, SHA-256 hex)."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


__all__ = ["ContactRow", "ForgetResult", "forget_contact", "list_contacts", "record_texts", "text_digest"]
