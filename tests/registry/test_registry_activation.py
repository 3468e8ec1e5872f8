from __future__ import annotations

import asyncio
import random
import shlex
import sys
import threading
import time

import pytest

from tuneforge.runtime.errors import Code, TuneforgeError
from tuneforge.services.registry import marker
from tuneforge.services.registry.activation import ActivationManager
from tuneforge.services.registry.activation_records import VllmState
from tuneforge.services.registry.vllm import VllmController

pytestmark = pytest.mark.store_backends  # each test on SQLite and on PostgreSQL


def _manager(catalog, mode="none", url="", **kw) -> ActivationManager:
    ctl_kw = {k: kw.pop(k) for k in list(kw) if k in ("max_lora_rank", "restart_command", "restart_timeout",
                                                       "supported_modules", "check_base_model", "max_loras",
                                                       "log_file")}
    ctl_kw.setdefault("poll_interval", 0.05)
    controller = VllmController(mode, url, request_timeout=2.0, **ctl_kw)
    kw.setdefault("retry_initial", 0.05)
    kw.setdefault("retry_max", 0.2)
    kw.setdefault("reconcile_interval", 60.0)
    return ActivationManager(catalog, controller, **kw)


def _register(catalog, src, *names, **kw):
    for n in names:
        catalog.import_directory(n, src(n, **kw))


async def _until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def _managed(fake) -> set[str]:
    return {n for n in fake.loras if "@v" in n}


# ------------------------------------------------------------------ marker mode
async def test_activate_deactivate_writes_marker_and_history(catalog, src):
    _register(catalog, src, "a", "b")
    m = _manager(catalog)
    st = await m.activate("a", actor="alice", reason="release 1")
    assert st.active == "a" and st.vllm_state is VllmState.NOT_CONFIGURED and st.served_name == "a@v1"
    assert marker.read_active(catalog.adapters_dir) == "a"
    assert (catalog.adapters_dir / ".active").read_text() == "a\na@v1\n"
    assert (catalog.adapters_dir / ".active").stat().st_mode & 0o777 == 0o644
    await m.activate("b")
    st = await m.deactivate(actor="bob")
    assert st.active is None and marker.read_active(catalog.adapters_dir) is None
    hist, total = m.history(0, 10)
    assert total == 3
    assert [(h.action, h.from_name, h.to_name, h.outcome) for h in hist] == [
        ("deactivate", "b", None, "MARKER_ONLY"), ("activate", "a", "b", "MARKER_ONLY"),
        ("activate", None, "a", "MARKER_ONLY")]
    assert hist[2].actor == "alice" and hist[2].reason == "release 1" and hist[2].mode == "none"
    assert [a.id for a in m.history(1, 1)[0]] == [hist[1].id]


async def test_activate_unknown_is_not_found_and_keeps_marker(catalog, src):
    _register(catalog, src, "a")
    m = _manager(catalog)
    await m.activate("a")
    with pytest.raises(TuneforgeError) as e:
        await m.activate("ghost")
    assert e.value.code is Code.NOT_FOUND
    assert marker.read_active(catalog.adapters_dir) == "a"


async def test_rollback_returns_to_previous_and_toggles(catalog, src):
    _register(catalog, src, "a", "b", "c")
    m = _manager(catalog)
    with pytest.raises(TuneforgeError) as e:
        await m.rollback()
    assert e.value.reason == "NO_PREVIOUS_ADAPTER"
    await m.activate("a")
    await m.activate("b")
    assert (await m.rollback()).active == "a"
    assert (await m.rollback()).active == "b"
    await m.activate("c")
    await m.deactivate()
    assert (await m.rollback()).active == "c"
    st = m.status()
    assert st.action == "rollback" and st.previous is None and st.history_id is not None
    await m.activate("a")
    catalog.delete("c")
    with pytest.raises(TuneforgeError) as e:
        await m.rollback()
    assert e.value.reason == "PREVIOUS_ADAPTER_GONE" and marker.read_active(catalog.adapters_dir) == "a"


async def test_concurrent_activations_serialise_and_marker_is_always_valid(catalog, src, fake_vllm):
    names = [f"ad{i}" for i in range(6)]
    _register(catalog, src, *names)
    m = _manager(catalog, "hot", fake_vllm.url)
    await m.start()
    seen, stop = set(), threading.Event()

    def watch_marker():
        while not stop.is_set():
            seen.add(marker.read_active(catalog.adapters_dir))

    reader = threading.Thread(target=watch_marker)
    reader.start()
    try:
        order = [random.choice(names) for _ in range(40)]
        results = await asyncio.gather(*(m.activate(n) for n in order))
    finally:
        stop.set()
        reader.join()
        await m.close()
    assert all(r.vllm_state is VllmState.APPLIED for r in results)
    assert seen <= set(names) | {None}
    final = marker.read_active(catalog.adapters_dir)
    assert final == m.status().active and final in names
    assert _managed(fake_vllm) == {f"{final}@v1"}  # exactly one adapter served
    assert m.history(0, 1)[1] == 40
    assert not list(catalog.adapters_dir.glob(".active.*"))  # no temp files left


async def test_watch_replays_state_then_follows_changes(catalog, src):
    _register(catalog, src, "a", "b")
    m = _manager(catalog)
    await m.activate("a")
    w1, w2 = m.watch(), m.watch()
    first = await anext(w1)
    assert first.kind == "SNAPSHOT" and first.status.active == "a"
    assert (await anext(w2)).kind == "SNAPSHOT"
    await m.activate("b")
    await m.deactivate()
    for w in (w1, w2):
        ev = await asyncio.wait_for(anext(w), 2)
        assert (ev.kind, ev.status.active, ev.previous) == ("ACTIVATED", "b", "a")
        ev = await asyncio.wait_for(anext(w), 2)
        assert (ev.kind, ev.status.active) == ("DEACTIVATED", None)
    await m.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(w1), 2)


async def test_delete_through_manager_refuses_active_and_forced_delete_unloads(catalog, src, fake_vllm):
    _register(catalog, src, "a")
    m = _manager(catalog, "hot", fake_vllm.url)
    await m.activate("a")
    with pytest.raises(TuneforgeError) as e:
        await m.delete_adapter("a")
    assert e.value.reason == "ADAPTER_ACTIVE" and catalog.exists("a")
    await m.delete_adapter("a", force=True)
    assert not catalog.exists("a") and m.status().active is None and _managed(fake_vllm) == set()


async def test_stale_marker_naming_unknown_adapter_is_repaired_on_open(catalog):
    marker.write_active(catalog.adapters_dir, "ghost")
    m = _manager(catalog)
    assert m.status().active is None and marker.read_active(catalog.adapters_dir) is None
    assert m.history(0, 1)[0][0].action == "repair"


# -------------------------------------------------------------------- hot mode
async def test_hot_mode_loads_versioned_name_then_unloads_previous(catalog, src, fake_vllm):
    _register(catalog, src, "a", "b")
    m = _manager(catalog, "hot", fake_vllm.url)
    st = await m.activate("a")
    assert st.vllm_state is VllmState.APPLIED and st.served_name == "a@v1"
    assert fake_vllm.loras == {"a@v1": str(catalog.get("a").path)}
    fake_vllm.requests.clear()
    await m.activate("b")
    posts = [(r.path, r.body["lora_name"]) for r in fake_vllm.requests if r.method == "POST"]
    assert posts == [("/v1/load_lora_adapter", "b@v1"), ("/v1/unload_lora_adapter", "a@v1")]
    # new files under the same name: a new served name, the old version unloaded
    await m.activate("a")
    catalog.import_directory("a", src("a2", r=4), replace=True)
    st = await m.activate("a")
    assert st.served_name == "a@v2" and _managed(fake_vllm) == {"a@v2"}
    await m.deactivate()
    assert _managed(fake_vllm) == set()


async def test_hot_mode_leaves_foreign_loras_alone(catalog, src, fake_vllm):
    _register(catalog, src, "a")
    fake_vllm.loras["someone-elses"] = "/x"
    m = _manager(catalog, "hot", fake_vllm.url)
    await m.activate("a")
    await m.deactivate()
    assert set(fake_vllm.loras) == {"someone-elses"}


async def test_vllm_down_refuses_the_switch_and_the_previous_marker_goes_pending_then_applied(
        catalog, src, fake_vllm):
    """Issue 22 item 5: an activation vLLM cannot confirm is UNAVAILABLE and leaves .active
    as it was; PENDING is the state of that previous marker, re-applied once vLLM is back.
    (Before, the marker switched to the unconfirmed adapter and the call answered PENDING.)"""
    _register(catalog, src, "a", "b")
    m = _manager(catalog, "hot", fake_vllm.url)
    await m.start()
    events = m.watch()
    assert (await anext(events)).kind == "SNAPSHOT"
    try:
        assert (await m.activate("a")).vllm_state is VllmState.APPLIED
        fake_vllm.stop()
        with pytest.raises(TuneforgeError) as e:
            await m.activate("b")
        assert e.value.code is Code.UNAVAILABLE and e.value.reason == "VLLM_UNREACHABLE"
        assert "still names 'a'" in m.history(0, 1)[0][0].detail
        assert marker.read_active(catalog.adapters_dir) == "a"  # never switched unconfirmed
        st = m.status()
        assert st.active == "a" and st.vllm_state is VllmState.PENDING and st.attempts >= 1 and st.next_retry_time
        assert [(h.to_name, h.outcome) for h in m.history(0, 2)[0]] == [("b", "FAILED"), ("a", "APPLIED")]
        await asyncio.sleep(0.3)  # a few failed retries
        assert m.status().vllm_state is VllmState.PENDING
        fake_vllm.start()  # same port, adapters forgotten
        await _until(lambda: m.status().vllm_state is VllmState.APPLIED)
        assert fake_vllm.loras == {"a@v1": str(catalog.get("a").path)}
        kinds = []
        while not kinds or kinds[-1] != "APPLIED":
            kinds.append((await asyncio.wait_for(anext(events), 2)).kind)
        assert kinds[0] == "ACTIVATED" and "PENDING" in kinds and "b" not in str(kinds)
    finally:
        await m.close()


async def test_vllm_restart_loses_adapter_and_reconcile_loads_it_again(catalog, src, fake_vllm):
    _register(catalog, src, "a")
    m = _manager(catalog, "hot", fake_vllm.url, reconcile_interval=0.1)
    await m.start()
    try:
        await m.activate("a")
        fake_vllm.restart()
        assert fake_vllm.loras == {}
        await _until(lambda: "a@v1" in fake_vllm.loras)
        assert m.status().vllm_state is VllmState.APPLIED
    finally:
        await m.close()


async def test_new_manager_reapplies_active_adapter_on_start(catalog, src, fake_vllm):
    _register(catalog, src, "a")
    await _manager(catalog).activate("a")  # marker written while in mode none
    m = _manager(catalog, "hot", fake_vllm.url)
    assert m.status().vllm_state is VllmState.PENDING
    await m.start()
    try:
        assert m.status().vllm_state is VllmState.APPLIED and "a@v1" in fake_vllm.loras
    finally:
        await m.close()


async def test_vllm_rejection_reverts_marker(catalog, src, fake_vllm):
    """Our limit says 64, the server's is 16: vLLM's engine refuses (a 500, not retried)."""
    _register(catalog, src, "small")
    catalog.import_directory("big", src("big", r=32))
    m = _manager(catalog, "hot", fake_vllm.url, max_lora_rank=64)
    await m.activate("small")
    with pytest.raises(TuneforgeError) as e:
        await m.activate("big")
    assert e.value.code is Code.FAILED_PRECONDITION and e.value.reason == "LORA_RANK_TOO_HIGH"
    assert "greater than max_lora_rank" in e.value.message
    assert marker.read_active(catalog.adapters_dir) == "small" and m.status().active == "small"
    assert _managed(fake_vllm) == {"small@v1"}
    assert m.history(0, 1)[0][0].outcome == "REJECTED"
    assert len(fake_vllm.calls("/v1/load_lora_adapter")) == 2  # the refusal was not retried


async def test_precheck_rank_base_model_and_modules(catalog, src, fake_vllm):
    catalog.import_directory("big", src("big", r=32))
    catalog.import_directory("other", src("other", base="Other/Model"))
    catalog.import_directory("emb", src("emb", modules=("q_proj", "embed_tokens")))
    m = _manager(catalog, "hot", fake_vllm.url)
    for name, field in [("big", "adapter_config.json.r"), ("other", "base_model"), ("emb", "target_modules")]:
        with pytest.raises(TuneforgeError) as e:
            await m.activate(name)
        assert e.value.code is Code.FAILED_PRECONDITION and e.value.reason == "ADAPTER_INCOMPATIBLE"
        assert [v.field for v in e.value.violations] == [field], e.value
    assert fake_vllm.calls("/v1/load_lora_adapter") == []
    assert marker.read_active(catalog.adapters_dir) is None


async def test_local_path_base_model_matches_served_root(catalog, src, fake_vllm):
    catalog.import_directory("p", src("p", base="/mnt/models/tiny-base"))
    m = _manager(catalog, "hot", fake_vllm.url)
    assert (await m.activate("p")).vllm_state is VllmState.APPLIED


async def test_an_adapter_activated_while_vllm_is_down_is_never_switched_in(catalog, src, fake_vllm):
    """Its base model cannot be checked while vLLM is down: it stays out, the previous one
    stays active and is served again when vLLM returns (before item 5 of issue 22 it was
    switched in as PENDING and reverted once vLLM refused it)."""
    _register(catalog, src, "good")
    catalog.import_directory("wrong", src("wrong", base="Other/Model"))
    m = _manager(catalog, "hot", fake_vllm.url)
    await m.start()
    try:
        await m.activate("good")
        fake_vllm.stop()
        with pytest.raises(TuneforgeError) as e:
            await m.activate("wrong")
        assert e.value.code is Code.UNAVAILABLE
        assert marker.read_active(catalog.adapters_dir) == "good" and m.status().active == "good"
        fake_vllm.start()
        await _until(lambda: m.status().vllm_state is VllmState.APPLIED)
        assert marker.read_active(catalog.adapters_dir) == "good" and _managed(fake_vllm) == {"good@v1"}
        outcomes = [(h.action, h.to_name, h.outcome) for h in m.history(0, 2)[0]]
        assert outcomes == [("activate", "wrong", "FAILED"), ("activate", "good", "APPLIED")]
    finally:
        await m.close()


async def test_runtime_lora_api_disabled_is_reported(catalog, src, fake_vllm):
    fake_vllm.runtime_updates = False
    _register(catalog, src, "a")
    m = _manager(catalog, "hot", fake_vllm.url)
    with pytest.raises(TuneforgeError) as e:
        await m.activate("a")
    assert e.value.reason == "VLLM_RUNTIME_LORA_DISABLED" and marker.read_active(catalog.adapters_dir) is None


# ---------------------------------------------------------------- restart mode
def _reload(fake, catalog) -> str:
    """A restart command that does to the fake what a restart through launch.py does."""
    return (f"{shlex.quote(sys.executable)} -m tuneforge.testing.fake_vllm --reload {fake.url}"
            f" --data-root {shlex.quote(str(catalog.adapters_dir.parent))}")


async def test_restart_mode_runs_command_with_active_adapter_env(catalog, src, tmp_path, fake_vllm):
    _register(catalog, src, "a", "b")
    log = tmp_path / "restarts.log"
    m = _manager(catalog, "restart", fake_vllm.url,
                 restart_command=f"echo restarted $TUNEFORGE_ACTIVE_ADAPTER >> {log}; {_reload(fake_vllm, catalog)}")
    st = await m.activate("a")
    assert st.vllm_state is VllmState.APPLIED and set(fake_vllm.loras) == {"a@v1"}
    await m.activate("b")
    await m.deactivate()
    assert log.read_text().splitlines() == ["restarted a", "restarted b", "restarted"]
    assert m.history(0, 1)[0][0].output.strip() == ""
    assert fake_vllm.loras == {}


async def test_restart_mode_argv_command(catalog, src, tmp_path, fake_vllm):
    _register(catalog, src, "a")
    out = tmp_path / "argv.txt"
    cmd = ["sh", "-c", f'printf "%s" "$TUNEFORGE_ACTIVE_SERVED_NAME" > {out}; {_reload(fake_vllm, catalog)}']
    m = _manager(catalog, "restart", fake_vllm.url, restart_command=cmd)
    await m.activate("a")
    assert out.read_text() == "a@v1"


async def test_restart_mode_reports_applied_only_once_vllm_serves_the_adapter(catalog, src, fake_vllm):
    """The command returns at once; vLLM comes up with the adapter only a moment later."""
    _register(catalog, src, "a")
    cmd = f"(sleep 0.5; {_reload(fake_vllm, catalog)}) >/dev/null 2>&1 &"
    m = _manager(catalog, "restart", fake_vllm.url, restart_command=cmd, restart_timeout=20)
    st = await m.activate("a")
    assert st.vllm_state is VllmState.APPLIED and "a@v1" in fake_vllm.loras


@pytest.mark.parametrize("command, timeout, detail", [
    ("echo failing >&2; exit 3", 10.0, "exited 3"),
    ("echo slow; sleep 30", 4.0, "timed out"),
    ("echo restarted", 4.0, "does not serve b@v1"),
])
async def test_restart_failure_puts_previous_adapter_back_and_restarts_it(
    catalog, src, fake_vllm, tmp_path, command, timeout, detail,
):
    _register(catalog, src, "a", "b")
    reload = _reload(fake_vllm, catalog)
    ok = _manager(catalog, "restart", fake_vllm.url, restart_command=reload)
    await ok.activate("a")
    flag = tmp_path / "broken"
    flag.touch()  # the restart breaks while this file exists: on the new adapter only
    cmd = f'if [ -e {flag} ] && [ "$TUNEFORGE_ACTIVE_ADAPTER" = b ]; then {command}; else {reload}; fi'
    vlog = tmp_path / "vllm.log"
    vlog.write_text("engine core died: out of memory\n")
    m = _manager(catalog, "restart", fake_vllm.url, restart_command=cmd, restart_timeout=timeout,
                 log_file=str(vlog))
    started = time.monotonic()
    with pytest.raises(TuneforgeError) as e:
        await m.activate("b")
    assert time.monotonic() - started < 15
    assert e.value.code is Code.UNAVAILABLE and e.value.reason == "VLLM_RESTART_FAILED"
    assert "activation FAILED" in e.value.message and "out of memory" in e.value.metadata["output_tail"]
    assert marker.read_active(catalog.adapters_dir) == "a" and set(fake_vllm.loras) == {"a@v1"}
    st = m.status()
    assert st.active == "a" and st.vllm_state is VllmState.FAILED and detail in st.detail
    assert "serves it again" in st.detail
    entry = m.history(0, 1)[0][0]
    assert entry.outcome == "FAILED" and "out of memory" in entry.output


def test_restart_mode_needs_a_command_and_a_url():
    with pytest.raises(TuneforgeError):
        VllmController("restart", "http://127.0.0.1:1")
    with pytest.raises(TuneforgeError) as e:
        VllmController("restart", restart_command="true")
    assert e.value.violations[0].field == "vllm_url"
    with pytest.raises(TuneforgeError):
        VllmController("sideways")


async def test_deactivate_while_vllm_down_unloads_when_it_returns(catalog, src, fake_vllm):
    _register(catalog, src, "a")
    m = _manager(catalog, "hot", fake_vllm.url)
    await m.start()
    try:
        await m.activate("a")
        port = fake_vllm.port
        fake_vllm._server.shutdown()  # unreachable but keeps its state, like a network cut
        fake_vllm._server.server_close()
        st = await m.deactivate()
        assert st.active is None and st.vllm_state is VllmState.PENDING
        assert marker.read_active(catalog.adapters_dir) is None
        loras = dict(fake_vllm.loras)
        fake_vllm.start()
        fake_vllm.loras.update(loras)
        assert fake_vllm.port == port
        await _until(lambda: m.status().vllm_state is VllmState.APPLIED)
        assert _managed(fake_vllm) == set()
    finally:
        await m.close()


async def test_restart_mode_allows_ranks_the_launcher_will_configure(catalog, src, fake_vllm):
    catalog.import_directory("big", src("big", r=64))
    fake_vllm.max_lora_rank = 64  # launch.py starts vLLM with --max-lora-rank 64 for it
    m = _manager(catalog, "restart", fake_vllm.url, restart_command=_reload(fake_vllm, catalog))
    assert (await m.activate("big")).vllm_state is VllmState.APPLIED


async def test_wrong_vllm_api_key_is_a_clear_refusal(catalog, src, fake_vllm):
    fake_vllm.api_key = "secret"
    _register(catalog, src, "a")
    m = _manager(catalog, "hot", fake_vllm.url)
    with pytest.raises(TuneforgeError) as e:
        await m.activate("a")
    assert e.value.code is Code.FAILED_PRECONDITION and e.value.reason == "VLLM_UNAUTHORIZED"
    good = ActivationManager(catalog, VllmController("hot", fake_vllm.url, api_key="secret"))
    assert (await good.activate("a")).vllm_state is VllmState.APPLIED


async def test_open_registry_wires_everything_from_config_values(store, data_root, src, fake_vllm):
    from tuneforge.services.registry.domain import open_registry

    fake_vllm.max_lora_rank = 32  # vLLM started with --max-lora-rank 32, and the config says so
    reg = open_registry(store, data_root, vllm_mode="hot", vllm_url=fake_vllm.url, vllm_max_lora_rank=32)
    await reg.start()
    try:
        reg.catalog.import_directory("a", src("a", r=32))
        assert (await reg.activation.activate("a")).vllm_state is VllmState.APPLIED
    finally:
        await reg.close()


async def test_pending_deactivation_survives_a_registry_restart(catalog, src, fake_vllm):
    """Deactivating is the one change made while vLLM is away (an activation is refused then,
    see above): the next registry process finishes it."""
    _register(catalog, src, "a")
    first = _manager(catalog, "hot", fake_vllm.url)
    assert (await first.activate("a")).vllm_state is VllmState.APPLIED
    loras = dict(fake_vllm.loras)
    fake_vllm.stop()
    assert (await first.deactivate()).vllm_state is VllmState.PENDING
    fake_vllm.start()
    fake_vllm.loras.update(loras)  # vLLM kept running; only the network was cut
    second = _manager(catalog, "hot", fake_vllm.url)  # the service restarted
    await second.start()
    try:
        assert second.status().vllm_state is VllmState.APPLIED and _managed(fake_vllm) == set()
        assert second.history(0, 1)[0][0].outcome == "APPLIED"
    finally:
        await second.close()


TIMEOUT_500 = "Call to add_lora method failed: RPC call to add_lora timed out."


async def test_a_transient_500_is_retried(catalog, src, fake_vllm):
    _register(catalog, src, "a")
    fake_vllm.faults = [("/v1/load_lora_adapter", 500, TIMEOUT_500)] * 2
    m = _manager(catalog, "hot", fake_vllm.url)
    m.controller.client.retry_delay = 0.01
    assert (await m.activate("a")).vllm_state is VllmState.APPLIED
    assert [r.status for r in fake_vllm.calls("/v1/load_lora_adapter")] == [500, 500, 200]


async def test_a_500_that_stays_transient_is_unavailable_and_keeps_the_marker(catalog, src, fake_vllm):
    _register(catalog, src, "a")
    fake_vllm.faults = [("/v1/load_lora_adapter", 500, TIMEOUT_500)] * 3
    m = _manager(catalog, "hot", fake_vllm.url)
    m.controller.client.retry_delay = 0.01
    with pytest.raises(TuneforgeError) as e:
        await m.activate("a")
    assert e.value.code is Code.UNAVAILABLE and "timed out" in e.value.message
    st = m.status()
    assert st.active is None and st.vllm_state is VllmState.PENDING
    assert marker.read_active(catalog.adapters_dir) is None


async def test_restart_mode_waits_until_the_old_adapter_is_gone(catalog, src, fake_vllm):
    """A rolling restart (kubectl) returns while the old vLLM still answers with the old adapter."""
    _register(catalog, src, "a")
    reload = _reload(fake_vllm, catalog)
    m = _manager(catalog, "restart", fake_vllm.url, restart_command=reload, restart_timeout=20)
    await m.activate("a")
    m.controller.restart_command = f"(sleep 0.5; {reload}) >/dev/null 2>&1 &"
    assert (await m.deactivate()).vllm_state is VllmState.APPLIED
    assert fake_vllm.loras == {}
