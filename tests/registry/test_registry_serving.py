"""Several adapters served at once: the active one plus a persisted set kept loaded beside it
(``ServeAdapter``/``UnserveAdapter``), against the fake vLLM (the real one: test_registry_real_vllm.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from registry_helpers import make_adapter
from tuneforge.runtime.errors import Code, TuneforgeError
from tuneforge.services.registry import marker
from tuneforge.services.registry.activation import ActivationManager
from tuneforge.services.registry.vllm import VllmController


def _manager(catalog, url, mode="hot", **kw) -> ActivationManager:
    return ActivationManager(catalog, VllmController(mode, url, request_timeout=2.0, poll_interval=0.05, **kw),
                             retry_initial=0.05, retry_max=0.2, reconcile_interval=60.0)


def _register(catalog, src, *names):
    for n in names:
        catalog.import_directory(n, src(n))


async def test_served_adapters_stay_loaded_beside_the_active_one(catalog, src, fake_vllm):
    _register(catalog, src, "personal", "support", "faq")
    m = _manager(catalog, fake_vllm.url)
    await m.activate("personal")
    assert await m.serve("support") == ["support"]
    assert await m.serve("support") == ["support"]  # idempotent
    await m.activate("faq")  # switching the active adapter leaves the served ones loaded
    assert set(fake_vllm.loras) == {"faq@v1", "support@v1"}
    assert marker.read_serving(catalog.adapters_dir) == [("support", "support@v1")]
    assert await m.unserve("support") == []
    assert set(fake_vllm.loras) == {"faq@v1"} and marker.read_serving(catalog.adapters_dir) == []


async def test_served_set_is_persisted_and_reapplied_after_a_vllm_restart(catalog, src, fake_vllm):
    _register(catalog, src, "personal", "support")
    first = _manager(catalog, fake_vllm.url)
    await first.activate("personal")
    await first.serve("support")
    fake_vllm.restart()  # vLLM forgets runtime-loaded adapters
    second = _manager(catalog, fake_vllm.url)  # and the registry restarted too
    await second.start()
    try:
        assert second.served_names() == ["support"]
        assert set(fake_vllm.loras) == {"personal@v1", "support@v1"}
    finally:
        await second.close()


async def test_serving_more_than_max_loras_is_refused(catalog, src, fake_vllm):
    _register(catalog, src, "a", "b", "c")
    m = _manager(catalog, fake_vllm.url, max_loras=2)
    await m.activate("a")
    await m.serve("b")
    with pytest.raises(TuneforgeError) as e:
        await m.serve("c")
    assert e.value.code is Code.FAILED_PRECONDITION and e.value.reason == "TOO_MANY_LORAS"
    assert m.served_names() == ["b"] and "c@v1" not in fake_vllm.loras
    await m.deactivate()
    await m.serve("c")
    with pytest.raises(TuneforgeError) as e:
        await m.activate("a")  # a third adapter beside the two served ones
    assert e.value.reason == "TOO_MANY_LORAS" and m.status().active is None


async def test_an_adapter_vllm_refuses_is_not_added_to_the_served_set(catalog, src, fake_vllm):
    _register(catalog, src, "a")
    catalog.import_directory("big", src("big", r=32))
    m = _manager(catalog, fake_vllm.url, max_lora_rank=64)  # our limit says 64; vLLM runs with 16
    with pytest.raises(TuneforgeError) as e:
        await m.serve("big")
    assert e.value.reason == "LORA_RANK_TOO_HIGH"
    assert m.served_names() == [] and marker.read_serving(catalog.adapters_dir) == []


async def test_unserving_an_adapter_that_is_not_served_is_not_found(catalog, src, fake_vllm):
    _register(catalog, src, "a")
    m = _manager(catalog, fake_vllm.url)
    with pytest.raises(TuneforgeError) as e:
        await m.unserve("a")
    assert e.value.code is Code.NOT_FOUND and e.value.reason == "ADAPTER_NOT_SERVED"


async def test_deleting_a_served_adapter_needs_force(catalog, src, fake_vllm):
    _register(catalog, src, "a")
    m = _manager(catalog, fake_vllm.url)
    await m.serve("a")
    with pytest.raises(TuneforgeError) as e:
        await m.delete_adapter("a")
    assert e.value.reason == "ADAPTER_SERVED"
    await m.delete_adapter("a", force=True)
    assert m.served_names() == [] and fake_vllm.loras == {}


async def test_restart_mode_relaunches_with_the_served_set(catalog, src, fake_vllm):
    _register(catalog, src, "a", "b")
    reload = (f"{sys.executable} -m tuneforge.testing.fake_vllm --reload {fake_vllm.url}"
              f" --data-root {catalog.adapters_dir.parent}")
    m = _manager(catalog, fake_vllm.url, mode="restart", restart_command=reload, restart_timeout=20)
    await m.activate("a")
    await m.serve("b")
    assert set(fake_vllm.loras) == {"a@v1", "b@v1"}


def _cli(srv, *args):
    proc = subprocess.run([sys.executable, "-m", "tuneforge.cli.main", "adapters", *args, "--target", srv.target],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "TUNEFORGE_TOKEN": ""})
    return proc


def test_cli_serve_unserve_and_list_show_the_served_set(server_factory, fake_vllm, tmp_path):
    srv = server_factory(vllm_mode="hot", vllm_url=fake_vllm.url)
    for name in ("personal", "support"):
        assert _cli(srv, "import", str(make_adapter(tmp_path / name))).returncode == 0
    assert _cli(srv, "activate", "personal").returncode == 0
    out = _cli(srv, "serve", "support", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["served_adapter_names"] == ["support"]
    listed = {a["name"]: a for a in json.loads(_cli(srv, "list", "--json").stdout)["adapters"]}
    assert listed["support"].get("served") and listed["support"]["served_name"] == "support@v1"
    assert not listed["personal"].get("served") and listed["personal"]["active"]
    assert set(fake_vllm.loras) == {"personal@v1", "support@v1"}
    assert "+ " in _cli(srv, "list").stdout
    assert _cli(srv, "unserve", "support").returncode == 0
    again = _cli(srv, "unserve", "support")
    assert again.returncode != 0 and "not served" in again.stderr


def test_grpc_serve_and_unserve_errors_are_typed(client):
    from tuneforge.client import NotFound

    with pytest.raises(NotFound) as e:
        client.registry.serve_adapter(name="nope")
    assert e.value.reason == "ADAPTER_NOT_FOUND"
    with pytest.raises(NotFound) as e:
        client.registry.unserve_adapter(name="nope")
    assert e.value.reason == "ADAPTER_NOT_SERVED"


async def test_restart_mode_serve_that_vllm_does_not_bring_up_restores_the_previous_set(catalog, src, fake_vllm):
    catalog.import_directory("a", src("a"))
    catalog.import_directory("big", src("big", r=32))  # the launcher would raise the rank; this vLLM keeps 16
    reload = (f"{sys.executable} -m tuneforge.testing.fake_vllm --reload {fake_vllm.url}"
              f" --data-root {catalog.adapters_dir.parent}")
    m = _manager(catalog, fake_vllm.url, mode="restart", restart_command=reload, restart_timeout=3)
    await m.activate("a")
    with pytest.raises(TuneforgeError) as e:
        await m.serve("big")
    assert e.value.code is Code.UNAVAILABLE and "does not serve big@v1" in e.value.message
    assert m.served_names() == [] and marker.read_serving(catalog.adapters_dir) == []
    assert set(fake_vllm.loras) == {"a@v1"}
