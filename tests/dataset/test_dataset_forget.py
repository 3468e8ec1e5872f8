"""Lineage and "forget this person" end to end (issue 25 items 6 and 7): a Telegram export
imported through the CLI, an adapter registered as trained on that dataset version, then
`dataset forget` — through the CLI and the SDK against real servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.registry.registry_helpers import make_adapter
from tuneforge.client import FailedPrecondition

REPO = Path(__file__).resolve().parents[2]
OWNER, MALLORY, ALICE, BOB = ("Olga Owner", 900), ("Mallory Quist", 501), ("Alice Brook", 502), ("Bob Stone", 503)
MALLORY_TEXTS = ["zebra quartz the harbour key is under the blue pot", "zebra quartz call me at midnight",
                 "zebra quartz the group plan is off"]


def _msg(i: int, who: tuple[str, int], ts: int, text: str) -> dict:
    return {"id": i, "type": "message", "date": "2024-01-01T00:00:00", "date_unixtime": str(ts),
            "from": who[0], "from_id": f"user{who[1]}", "text": text, "text_entities": []}


def _personal(peer: tuple[str, int], texts: list[str], start: int) -> dict:
    msgs = []
    for n, text in enumerate(texts):
        msgs.append(_msg(start + 2 * n, peer, 1_700_000_000 + start * 60 + 120 * n, text))
        msgs.append(_msg(start + 2 * n + 1, OWNER, 1_700_000_000 + start * 60 + 120 * n + 60, f"reply {start}-{n}"))
    return {"name": peer[0], "type": "personal_chat", "id": peer[1], "messages": msgs}


def write_export(path: Path) -> Path:
    t = 1_700_500_000
    group = [
        _msg(1, ALICE, t, "morning all, standup soon"), _msg(2, OWNER, t + 60, "on my way"),
        _msg(3, MALLORY, t + 120, MALLORY_TEXTS[2]), _msg(4, OWNER, t + 180, "noted"),
        # seven hours later: a new dialog without Mallory
        _msg(5, ALICE, t + 25_200, "lunch on friday?"), _msg(6, OWNER, t + 25_260, "sure, friday works"),
    ]
    export = {
        "personal_information": {"user_id": OWNER[1], "first_name": "Olga", "last_name": "Owner"},
        "chats": {"list": [
            _personal(MALLORY, MALLORY_TEXTS[:2], 100),
            _personal(ALICE, ["how was the trip", "send photos"], 200),
            _personal(BOB, ["are we still on for chess", "bring the clock"], 300),
            {"name": "Team", "type": "private_group", "id": 700, "messages": group},
        ]},
    }
    path.write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    return path


def cli(server, group: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    from tuneforge.testing.paths import source_path

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": source_path(), "TUNEFORGE_TOKEN": ""}
    proc = subprocess.run([sys.executable, "-m", "tuneforge.cli.main", group, *argv, "--target", server.target],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=120, check=False)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def dataset_files_text(root: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace")
                     for p in (root / "datasets").rglob("*") if p.is_file())


@pytest.fixture
def imported(server, client, tmp_path):
    """Dataset ``chats`` (v1) from the export, and adapter ``bot`` registered as trained on it,
    with an evaluation report whose samples hold Mallory's and Alice's dialogs."""
    export = write_export(tmp_path / "result.json")
    cli(server, "dataset", "telegram", str(export), "--name", "chats", "--owner", OWNER[0],
        "--include-groups", "--validation-split", "0")
    v1 = client.dataset.get_dataset(name="chats")
    src = make_adapter(server.config.root / "incoming" / "bot")
    client.registry.register_adapter(name="bot", path=str(src), base_model="tiny-base", dataset="chats",
                                     dataset_version=v1.version, dataset_sha256=v1.sha256)
    side = {"style_score": 0.5, "eval_loss": 1.0}
    samples = [
        {"messages": [{"role": "user", "content": MALLORY_TEXTS[0]}], "reference": "reply 100-0",
         "base": "hm", "adapter": "ok"},
        {"messages": [{"role": "user", "content": "how was the trip"}], "reference": "reply 200-0",
         "base": "hm", "adapter": "great"},
    ]
    client.registry.create_evaluation(adapter_name="bot", report={"base": side, "adapter": side, "samples": samples})
    return v1


def test_dataset_version_and_checksum_are_recorded_on_the_adapter_and_shown_by_lineage(server, client, imported):
    assert imported.version == 1 and len(imported.sha256) == 64
    adapter = client.registry.get_adapter(name="bot")
    assert (adapter.dataset, adapter.dataset_version, adapter.dataset_sha256) == ("chats", 1, imported.sha256)
    assert not adapter.HasField("data_retraction")
    lineage = json.loads(cli(server, "adapters", "lineage", "bot", "--json").stdout)
    (entry,) = lineage["versions"]
    assert entry["dataset"] == "chats" and entry["dataset_version"] == 1 and entry["current"] is True
    assert "data_retraction" not in entry


def test_each_record_keeps_its_export_chat_message_ids_and_authors(client, imported):
    records = [json.loads(r) for r in client.dataset.preview_dataset(name="chats", count=100).records]
    by_chat = {r["telegram_ids"]["chat"]: r["telegram_ids"] for r in records}
    assert all(r["telegram_ids"]["export"] == imported.job_id for r in records) and imported.job_id
    assert by_chat[501] == {"export": imported.job_id, "chat": 501, "messages": [100, 101, 102, 103],
                            "from": ["user501", "", "user501", ""], "names": {"user501": MALLORY[0]}}


def test_dataset_contacts_lists_each_person_with_their_messages_as_user_and_in_groups(server, imported):
    contacts = {c["id"]: c for c in json.loads(cli(server, "dataset", "contacts", "chats", "--json").stdout)["contacts"]}
    assert set(contacts) == {"user501", "user502", "user503"}  # never the owner
    m = contacts["user501"]
    assert m["name"] == MALLORY[0]
    assert [int(m.get(k, 0)) for k in ("messages_as_user", "messages_in_groups", "records")] == [2, 1, 2]
    a = contacts["user502"]
    assert [int(a.get(k, 0)) for k in ("messages_as_user", "messages_in_groups", "records")] == [2, 2, 3]


def test_forget_an_unknown_contact_is_an_error_naming_the_close_ones(server, imported):
    proc = cli(server, "dataset", "forget", "chats", "--contact", "Malory Quist", check=False)
    assert proc.returncode != 0
    assert "CONTACT_NOT_FOUND" in proc.stderr and "Mallory Quist (user501)" in proc.stderr


def test_forget_removes_the_person_marks_the_adapter_and_activation_needs_force(server, client, imported):
    root = server.config.root
    assert MALLORY_TEXTS[0] in dataset_files_text(root)
    out = cli(server, "dataset", "forget", "chats", "--contact", "mallory  quist").stdout  # by name, any case
    assert "removed 3 messages of user501 (2 records); now v2" in out and "bot v1 (dataset v1)" in out
    assert "1 evaluation samples" in out

    # Nothing of her is left in the dataset's files (old version removed) ...
    text = dataset_files_text(root)
    for needle in [*MALLORY_TEXTS, "Mallory", "user501"]:
        assert needle not in text, needle
    assert "how was the trip" in text and "lunch on friday?" in text  # the others' dialogs stay
    v2 = client.dataset.get_dataset(name="chats")
    assert v2.version == 2 and v2.record_count == 3 and v2.sha256 != imported.sha256
    assert f"version 2  sha256 {v2.sha256}" in cli(server, "dataset", "show", "chats").stdout
    assert all(c.name != MALLORY[0] for c in v2.telegram_report.contacts)
    # ... nor in the samples of the stored evaluation report.
    report = client.registry.get_evaluation(adapter_name="bot")
    assert [s.reference for s in report.samples] == ["reply 200-0"]

    # The adapter is marked: list and show say so; activation and serving need force.
    assert "bot !" in cli(server, "adapters", "list").stdout
    assert "TRAINED ON FORGOTTEN DATA" in cli(server, "adapters", "show", "bot").stdout
    refused = cli(server, "adapters", "activate", "bot", check=False)
    assert refused.returncode != 0 and "ADAPTER_TRAINED_ON_FORGOTTEN_DATA" in refused.stderr
    with pytest.raises(FailedPrecondition) as exc:
        client.registry.serve_adapter(name="bot")
    assert exc.value.reason == "ADAPTER_TRAINED_ON_FORGOTTEN_DATA"
    assert json.loads(cli(server, "adapters", "activate", "bot", "--force", "--json").stdout)["adapter_name"] == "bot"

    lineage = client.registry.get_adapter_lineage(name="bot")
    mark = lineage.versions[0].data_retraction
    assert (mark.dataset, mark.superseded_by_version) == ("chats", 2) and "removed in v2" in mark.reason
    assert "user501" not in mark.reason and MALLORY[0] not in str(lineage)  # the registry keeps no trace of her
    assert "superseded by chats v2" in cli(server, "adapters", "lineage", "bot").stdout


def test_a_newer_export_appended_after_a_forget_does_not_bring_the_person_back(server, client, imported, tmp_path):
    cli(server, "dataset", "forget", "chats", "--contact", "user501")
    assert client.dataset.get_dataset(name="chats").version == 2
    cli(server, "dataset", "telegram", str(write_export(tmp_path / "newer.json")), "--append-to", "chats",
        "--owner", OWNER[0], "--include-groups", "--validation-split", "0")
    appended = client.dataset.get_dataset(name="chats")
    report = appended.telegram_report
    assert appended.version == 3 and report.chats_skipped["forgotten_contact"] == 1  # her personal chat
    assert report.messages_dropped["forgotten_contact"] == 1  # her group message
    text = dataset_files_text(server.config.root)
    for needle in [*MALLORY_TEXTS, "Mallory", "user501"]:
        assert needle not in text, needle
    assert "morning all, standup soon" in text  # the group dialog's other messages came back without her


def test_forget_through_the_sdk_marks_adapters_registered_later_on_the_old_version(server, client, imported):
    outcome = client.forget_contact("chats", "user503")
    assert outcome.forget.dataset.version == 2 and outcome.forget.records_removed == 1
    assert [(e.adapter_name, e.version) for e in outcome.retract.marked] == [("bot", 1)]
    # a training job started before the forget registers afterwards on v1: marked at once
    src = make_adapter(server.config.root / "incoming" / "late")
    late = client.registry.register_adapter(name="late", path=str(src), dataset="chats", dataset_version=1)
    assert late.data_retraction.superseded_by_version == 2
    fresh = client.registry.register_adapter(name="fresh", path=str(src), dataset="chats", dataset_version=2)
    assert not fresh.HasField("data_retraction")
    client.registry.activate_adapter(name="fresh")


def test_a_dataset_without_message_authors_cannot_list_or_forget_contacts(client, data):
    up = client.upload_file("dataset", data / "messages.jsonl")
    client.dataset.import_dataset(upload_id=up.id, dataset_name="plain")
    with pytest.raises(FailedPrecondition) as exc:
        client.dataset.list_dataset_contacts(name="plain")
    assert exc.value.reason == "DATASET_NO_PROVENANCE"
    with pytest.raises(FailedPrecondition):
        client.forget_contact("plain", "anyone")
    assert client.dataset.get_dataset(name="plain").version == 1  # untouched


def test_a_rewrite_waits_for_another_change_of_the_same_dataset(catalog, tmp_path):
    """An append (in a worker process) and a forget (in the service) never interleave: each
    holds the dataset's lock from reading its files to swapping them in."""
    import threading

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                                    {"role": "assistant", "content": f"a{i}"}]}) + "\n"
                           for i in range(4)))
    catalog.create("d", src, source="import", validation_split=0)
    done = threading.Event()

    def forget_one():
        catalog.rewrite("d", lambda records: (r for r in records if r["messages"][0]["content"] != "q0"))
        done.set()

    with catalog.exclusive("d"):  # another process's append, mid-way
        worker = threading.Thread(target=forget_one)
        worker.start()
        assert not done.wait(0.5)  # blocked: it cannot read the files being replaced
        assert catalog.get("d").version == 1
    worker.join(30)
    assert done.is_set() and catalog.get("d").version == 2 and catalog.get("d").record_count == 3


def test_forget_drops_the_leak_audits_private_probes_which_may_hold_the_persons_values(server, client, tmp_path):
    """A scrubbed import keeps what it removed in pii_probes.jsonl for the leak audit; it holds
    the forgotten person's phone number as much as anyone's, so the new version has none."""
    from tuneforge.services.dataset.scrub import PROBES_FILE

    export = json.loads(write_export(tmp_path / "result.json").read_text(encoding="utf-8"))
    mallory = export["chats"]["list"][0]["messages"]
    mallory[0]["text"] = MALLORY_TEXTS[0] + ", my number is 8 (912) 345-67-89"
    (tmp_path / "result.json").write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    cli(server, "dataset", "telegram", str(tmp_path / "result.json"), "--name", "chats", "--owner", OWNER[0],
        "--include-groups", "--validation-split", "0", "--scrub")
    probes = server.config.root / "datasets" / "chats" / PROBES_FILE
    assert "345-67-89" in probes.read_text(encoding="utf-8")  # kept privately for the audit

    cli(server, "dataset", "forget", "chats", "--contact", "user501")
    assert client.dataset.get_dataset(name="chats").version == 2
    assert not probes.exists()
    assert "345-67-89" not in dataset_files_text(server.config.root)
