"""`tuneforge demo`: a fresh machine to an active adapter in a few minutes, offline.

Builds a tiny random-weight Qwen2 model (or uses ``--base-model``), turns the bundled Telegram
export into a dialog dataset, trains a LoRA adapter on it, lets the trainer register it,
activates it, and prints what happened and where everything is. It runs its own server on a
free loopback port over ``--data-root`` unless ``--target`` names a running one.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

from tuneforge.trainer.v1 import trainer_pb2

from tuneforge.cli.common import client_options, follow_job, human_size, parse_sets
from tuneforge.client import Client, NotFound

DEMO_OWNER = "Demo Support"


def add_parser(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "demo", parents=[client_options()],
        help="end to end on a tiny model: Telegram export → dataset → LoRA → registered → active",
        description=__doc__,
    )
    demo.set_defaults(target=None)
    demo.add_argument("--data-root", default="./var", help="data root for the demo's own server (default ./var)")
    demo.add_argument("--base-model", default="", help="a real base model (local path or cached hub id) instead of the tiny one")
    demo.add_argument("--name", default="demo-support", help="name of the dataset and the adapter")
    demo.add_argument("--preset", default="quick", choices=["quick", "standard", "thorough"])
    demo.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="training config override (repeatable)")
    demo.set_defaults(func=run)


def _step(n: int, text: str) -> None:
    print(f"\n[{n}/5] {text}", flush=True)


def _build_tiny_model(root: Path) -> Path:
    out = root / "models" / "tiny-demo-qwen2"
    if (out / "config.json").exists():
        print(f"      tiny model already built: {out}")
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    subprocess.run([sys.executable, "-m", "tuneforge.testing.tiny_lm", str(out)], check=True, stdout=subprocess.DEVNULL)
    print(f"      built a tiny random-weight Qwen2 model + BPE tokenizer offline in {time.time() - started:.0f}s: {out}")
    return out


def _unique(client: Client, name: str) -> str:
    """The first of name, name-2, name-3 … free as both dataset and adapter."""
    candidate, n = name, 1
    while True:
        taken = False
        for probe in (lambda: client.dataset.get_dataset(name=candidate), lambda: client.registry.get_adapter(name=candidate)):
            try:
                probe()
                taken = True
            except NotFound:
                pass
        if not taken:
            return candidate
        n += 1
        candidate = f"{name}-{n}"


def run(args: argparse.Namespace) -> int:
    from tuneforge.cli.common import connect, server_parts_missing

    server = None
    root = Path(args.data_root).resolve()
    try:
        importlib.import_module("tuneforge.demo")  # the bundled export ships with the server parts
        if args.target is None:
            from tuneforge.runtime.logging import configure_logging
            from tuneforge.testing.server import ServerThread
    except ModuleNotFoundError as exc:
        return server_parts_missing("demo", exc)
    if args.target is None:
        configure_logging("warning")
        local_model = Path(args.base_model).expanduser() if args.base_model else None
        allowed = str(local_model.resolve()) if local_model and local_model.is_dir() else ""
        server = ServerThread(root, allowed_paths=allowed).start()
        args.target = server.target
        print(f"tuneforge demo: services started on {server.target}, data root {root}")
    try:
        client = connect(args)
        return _run(client, args, root if server else None)
    finally:
        if server is not None:
            server.stop(stop_workers=True)


def _run(client: Client, args: argparse.Namespace, root: Path | None) -> int:
    started = time.time()
    name = _unique(client, args.name)

    _step(1, "base model")
    if args.base_model:
        base_model = args.base_model
        print(f"      using {base_model}")
    else:
        if root is None:
            print("error: with --target, pass --base-model (a path the server can read)", file=sys.stderr)
            return 2
        base_model = str(_build_tiny_model(root))

    _step(2, "Telegram export → dialog dataset")
    export = resources.files("tuneforge.demo").joinpath("telegram_export.json")
    with resources.as_file(export) as path:
        upload = client.upload_file("dataset", path, "result.json")
    print(f"      uploaded the bundled export ({human_size(upload.size_bytes)}, sha256 {upload.sha256[:12]}…)")
    job = client.dataset.process_telegram_export(upload_id=upload.id, dataset_name=name, config={"owner_name": DEMO_OWNER})
    if follow_job(client, job.id) != 0:
        return _failed(client, "dataset", job.id)
    dataset = client.dataset.get_dataset(name=name)
    report = dataset.telegram_report
    print(f"      dataset {name!r}: {dataset.record_count} dialogs for training, {dataset.validation_record_count} for validation")
    if dataset.HasField("telegram_report"):
        print(f"      messages read {report.messages_read}, kept {report.messages_kept}; dropped: {dict(report.messages_dropped)}")

    _step(3, f"LoRA training ({args.preset} preset) — loss on the assistant turns only")
    sets = list(args.overrides)
    if not args.base_model:
        sets = ["epochs=3", "max_seq_length=256", "gradient_accumulation_steps=1", "batch_size=4", "save_steps=20",
                "learning_rate=3e-3", "gradient_checkpointing=false", *sets]
    overrides, _ = parse_sets(trainer_pb2.TrainingConfig, sets)
    job = client.trainer.create_training_job(dataset=name, base_model=base_model, preset=args.preset, config=overrides, adapter_name=name)
    if follow_job(client, job.id) != 0:
        return _failed(client, "trainer", job.id)
    series = client.jobs.list_job_metrics(id=job.id).metrics
    losses = [m.loss for m in series if m.HasField("loss")]
    if losses:
        print(f"      loss {losses[0]:.3f} → {losses[-1]:.3f} over {series[-1].step} steps")

    _step(4, "registry: the trainer registered the adapter")
    adapter = None
    for _ in range(60):
        try:
            adapter = client.registry.get_adapter(name=name)
            break
        except NotFound:
            time.sleep(0.5)
    if adapter is None:
        print("error: the adapter was not registered; see `tuneforge train status`", file=sys.stderr)
        return 1
    print(f"      {adapter.name} v{adapter.version}: rank {adapter.rank}, modules {', '.join(adapter.target_modules)}, {human_size(adapter.size_bytes)}")

    _step(5, "activate")
    activation = client.registry.activate_adapter(name=name)
    from tuneforge.registry.v1 import registry_pb2

    state = registry_pb2.Activation.VllmState.Name(activation.vllm_state).removeprefix("VLLM_STATE_")
    print(f"      active adapter: {activation.adapter_name} (served as {activation.served_name or activation.adapter_name}; vLLM: {state})")

    print(f"\nDone in {time.time() - started:.0f}s. Where things are:")
    print(f"  dataset   {dataset.path}")
    print(f"  adapter   {adapter.path}")
    if root is not None:
        print(f"  marker    {root / 'adapters' / '.active'}")
        print(f"  state     {root / 'state.db'}")
        print(f"\nNext: `tuneforge serve all --data-root {root}` and `tuneforge adapters list`;")
        print(f"      serve it with vLLM: `python deploy/vllm/launch.py --data-root {root} --dry-run`")
    return 0


def _failed(client: Client, service: str, job_id: str) -> int:
    job = client.wait_job(job_id)
    print(f"error: {service} job {job_id} ended {job.error_reason}: {job.error_message}", file=sys.stderr)
    return 1
