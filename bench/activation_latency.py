"""Activation latency against the real vLLM (CPU build 0.32.0): hot vs restart mode.

    python bench/activation_latency.py [--rounds 5] [--modes hot,restart]

Each round activates the other of two trained tiny adapters through the registry's gRPC API
(``ActivateAdapter``, the call a user makes) and times it until it returns APPLIED — in hot
mode vLLM has loaded the new ``name@vN`` and unloaded the old one; in restart mode the
restart command relaunched vLLM through deploy/vllm/launch.py and the registry waited until
``/v1/models`` lists the served name. Prints the median of ``--rounds`` per mode (and every
sample) as one JSON object. Needs the vLLM virtualenv (scripts/setup_vllm_env.sh).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "clients" / "python")]

from tuneforge.client import Client  # noqa: E402
from tuneforge.testing import real_vllm  # noqa: E402
from tuneforge.testing.server import ServerThread  # noqa: E402
from tuneforge.testing.tiny_lm import cached_tiny_lm_vllm  # noqa: E402
from tuneforge.testing.tiny_lora import train_tiny_lora  # noqa: E402


def _register(srv: ServerThread, adapters: list[Path]) -> None:
    from tuneforge.cli.adapters import pack_directory, _upload_requests

    with Client(srv.target, timeout=60) as client:
        for i, path in enumerate(adapters):
            archive = pack_directory(path, path.parent / "a.tar.gz")
            client.registry.import_adapter(_upload_requests(archive, f"bot{i}", False))


def _time_activations(srv: ServerThread, rounds: int) -> list[float]:
    samples = []
    with Client(srv.target, timeout=900) as client:
        client.registry.activate_adapter(name="bot1")  # warm: vLLM serves an adapter already
        for r in range(rounds):
            t = time.perf_counter()
            act = client.registry.activate_adapter(name=f"bot{r % 2}")
            samples.append(time.perf_counter() - t)
            assert act.vllm_state == act.VLLM_STATE_APPLIED, act
            print(f"  {act.served_name}: {samples[-1]:.3f} s", file=sys.stderr, flush=True)
    return samples


def bench_hot(work: Path, base: Path, adapters: list[Path], rounds: int) -> list[float]:
    vllm = real_vllm.RealVllm(log_dir=work)
    try:
        url = vllm.start(base)
        with ServerThread(work / "hot", vllm_mode="hot", vllm_url=url) as srv:
            _register(srv, adapters)
            return _time_activations(srv, rounds)
    finally:
        vllm.stop()


def bench_restart(work: Path, base: Path, adapters: list[Path], rounds: int) -> list[float]:
    d = work / "restart"
    d.mkdir()
    port = real_vllm.free_port()
    script = real_vllm.write_restart_script(d, work / "restart-root", port)
    try:
        with ServerThread(work / "restart-root", vllm_mode="restart", vllm_url=f"http://127.0.0.1:{port}",
                          vllm_restart_command=str(script), vllm_restart_timeout_seconds=600,
                          vllm_log_file=str(d / "vllm.log")) as srv:
            _register(srv, adapters)
            return _time_activations(srv, rounds)
    finally:
        real_vllm.stop_restarted(d)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--modes", default="hot,restart")
    args = ap.parse_args()
    if real_vllm.venv_python() is None:
        raise SystemExit(real_vllm.skip_reason())
    base = cached_tiny_lm_vllm()
    result: dict = {"vllm": real_vllm.VLLM_VERSION, "rounds": args.rounds}
    with tempfile.TemporaryDirectory(prefix="tuneforge-bench-") as tmp:
        work = Path(tmp)
        adapters = [train_tiny_lora(base, work / f"a{i}" / "final", seed=i, steps=1) for i in range(2)]
        for mode in args.modes.split(","):
            print(f"{mode} mode:", file=sys.stderr, flush=True)
            samples = {"hot": bench_hot, "restart": bench_restart}[mode](work, base, adapters, args.rounds)
            result[mode] = {"median_s": round(statistics.median(samples), 3),
                            "samples_s": [round(s, 3) for s in samples]}
    if "hot" in result and "restart" in result:
        result["restart_over_hot"] = round(result["restart"]["median_s"] / result["hot"]["median_s"], 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
