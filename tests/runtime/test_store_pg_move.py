"""`tuneforge admin migrate-store`: a data root's SQLite state moves into an empty PostgreSQL
database, and a server on PostgreSQL then lists the same adapters, datasets and jobs, and
goes on from there (new ids continue after the copied ones); a non-empty target is refused."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "registry"))
from registry_helpers import make_adapter  # noqa: E402

from tuneforge.client import Client  # noqa: E402


def migrate_store(root: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tuneforge.cli.main", "admin", "migrate-store", "--to", url,
                           "--data-root", str(root)], capture_output=True, text=True, timeout=120)  # fmt: skip


def listing(c: Client) -> dict:
    adapters = c.registry.list_adapters()
    return {
        "adapters": sorted((a.name, a.version, a.active) for a in adapters.adapters),
        "datasets": sorted((d.name, d.record_count) for d in c.dataset.list_datasets().datasets),
        "jobs": sorted((j.id, j.kind, j.state) for j in c.jobs.list_jobs().jobs),
        "history": [(a.adapter_name, a.adapter_version) for a in c.registry.list_activations().activations],
        "events": {j.id: [(e.seq, e.WhichOneof("kind")) for e in c.watch_job(j.id, include_logs=True)]
                   for j in c.jobs.list_jobs().jobs},
    }


def test_migrate_store_moves_a_data_root_and_the_adapters_list_the_same(server_factory, postgres_cluster, tmp_path):
    root = tmp_path / "var"
    srv = server_factory(root)
    chats = tmp_path / "chats.jsonl"
    chats.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"hi {i}"},
                                                      {"role": "assistant", "content": f"hello {i}"}]}) + "\n"
                             for i in range(6)))  # fmt: skip
    with Client(srv.target, timeout=60) as c:
        for name in ("alpha", "beta"):
            c.registry.register_adapter(name=name, path=str(make_adapter(tmp_path / "incoming" / name)))
        c.registry.register_adapter(name="alpha", path=str(make_adapter(tmp_path / "incoming" / "alpha2")), replace=True)
        c.registry.activate_adapter(name="alpha")
        up = c.upload_file("dataset", chats)
        c.dataset.import_dataset(upload_id=up.id, dataset_name="chats")
        project = tmp_path / "project.zip"
        with zipfile.ZipFile(project, "w") as zf:
            zf.writestr("docs/guide.md", "# Guide\n\nInstall it with pip. Run it with the serve command.\n")
        up = c.upload_file("dataset", project)
        c.wait_job(c.dataset.generate_dataset(dataset_name="docs", project_upload_id=up.id).id)
        before = listing(c)
    srv.stop()
    assert ("alpha", 2, True) in before["adapters"] and [d[0] for d in before["datasets"]] == ["chats", "docs"]
    assert before["jobs"] and all(before["events"].values()), before  # a job whose events replay

    url = postgres_cluster.create_database()
    moved = migrate_store(root, url)
    assert moved.returncode == 0, moved.stderr
    assert "registry_adapters" in moved.stdout and "jobs" in moved.stdout
    again = migrate_store(root, url)
    assert again.returncode == 1 and "TARGET_NOT_EMPTY" in again.stderr, again.stderr

    srv = server_factory(root, database_url=url)
    with Client(srv.target, timeout=60) as c:
        assert listing(c) == before
        c.registry.register_adapter(name="gamma", path=str(make_adapter(tmp_path / "incoming" / "gamma")))
        c.registry.activate_adapter(name="beta")  # a new history row after the copied ones
        after = listing(c)
    assert ("gamma", 1, False) in after["adapters"] and ("beta", 1, True) in after["adapters"]
    assert len(after["history"]) == len(before["history"]) + 1
    assert set(before["history"]) <= set(after["history"])


def test_every_component_with_migrations_is_moved():
    """A component that adds tables (MIGRATIONS) must be in migrate-store's list, or a data root
    that has them is refused UNKNOWN_TABLE (found when the serving check's tables arrived)."""
    import re

    from tuneforge.runtime import store_move

    repo = Path(__file__).resolve().parents[2]
    found = set()
    for part in [repo / "runtime", *sorted((repo / "services").iterdir())]:
        for path in part.glob("tuneforge/**/*.py"):
            if re.search(r"^MIGRATIONS\b", path.read_text(), re.M):
                found.add(".".join(path.relative_to(part).with_suffix("").parts))
    assert found and found == set(store_move.COMPONENTS), sorted(found ^ set(store_move.COMPONENTS))
