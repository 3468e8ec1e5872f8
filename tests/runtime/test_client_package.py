"""The client SDK ships on its own: generated stubs included, no torch or ML stack needed."""

from __future__ import annotations

import email
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import typing
import zipfile
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "peft", "trl", "accelerate", "faster_whisper", "qwen_tts")


def test_client_distribution_declares_only_grpc_dependencies():
    meta = tomllib.loads((REPO / "clients" / "python" / "pyproject.toml").read_text())
    deps = " ".join(meta["project"]["dependencies"]).lower()
    assert not any(name.replace("_", "-") in deps for name in HEAVY), deps


def test_client_wheel_holds_the_sdk_and_every_generated_stub(client_only):
    names = set(zipfile.ZipFile(client_only["wheel"]).namelist())
    for service in ("common", "dataset", "trainer", "tts", "registry"):
        assert f"tuneforge/{service}/v1/{service}_pb2.py" in names
        assert f"tuneforge/{service}/v1/{service}_pb2_grpc.py" in names
    assert "tuneforge/client/client.py" in names
    assert "tuneforge/cli/main.py" in names  # the CLI ships with the SDK (clients/python)
    assert not any(n.startswith(("tuneforge/runtime", "tuneforge/services")) for n in names)


def test_importing_the_sdk_imports_no_ml_stack():
    code = (
        "import sys, tuneforge.client, tuneforge.cli.main\n"
        "from tuneforge.client import Client\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_the_service_process_never_imports_the_ml_stack(tmp_path):
    code = (
        "import asyncio, sys\n"
        "from tuneforge.runtime.config import load_config\n"
        "from tuneforge.runtime.server import TuneforgeServer\n"
        "async def main():\n"
        f"    cfg, _ = load_config(overrides={{'data_root': {str(tmp_path / 'var')!r}, 'port': 0}}, environ={{}})\n"
        "    server = TuneforgeServer(cfg)\n"
        "    await server.start()\n"
        "    await server.stop()\n"
        "asyncio.run(main())\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


# -- the client alone: a venv holding only the client wheel and its third-party dependencies


def _build_wheel(out: Path) -> Path:
    """The client wheel, built from a clean copy of clients/python: setuptools reuses a
    source tree's build/ folder, whose stale files would land in the wheel."""
    source = out / "src"
    shutil.copytree(REPO / "clients" / "python", source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    run = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=180,
    )
    assert run.returncode == 0, run.stderr
    return next(out.glob("tuneforge_client-*.whl"))


def _third_party_closure(wheel: Path, extras: tuple[str, ...]) -> list[importlib.metadata.Distribution]:
    """The installed distributions the wheel needs (its Requires-Dist with ``extras``, then
    theirs), found in this environment: what ``pip install tuneforge-client[cli]`` would bring."""
    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_string(zf.read(meta_name).decode())
    pending = [(Requirement(r), extras) for r in meta.get_all("Requires-Dist") or []]
    seen: dict[str, importlib.metadata.Distribution] = {}
    while pending:
        req, wanted = pending.pop()
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (*wanted, "")):
            continue
        key = req.name.lower().replace("_", "-")
        if key in seen:
            continue
        assert not key.startswith("tuneforge"), f"the client depends on a tuneforge part: {req}"
        dist = importlib.metadata.distribution(req.name)
        seen[key] = dist
        pending += [(Requirement(r), tuple(req.extras)) for r in dist.requires or []]
    return list(seen.values())


def _link_top_levels(dists: list[importlib.metadata.Distribution], into: Path) -> None:
    """Symlink each distribution's top-level modules, packages and metadata into ``into``."""
    into.mkdir()
    for dist in dists:
        site = Path(dist.locate_file(""))
        tops = {Path(f).parts[0] for f in dist.files or []}
        for top in sorted(tops):
            if top in ("..", "__pycache__") or top.endswith(".pth") or (into / top).exists():
                continue
            (into / top).symlink_to(site / top)


@pytest.fixture(scope="module")
def client_only(tmp_path_factory) -> dict[str, Any]:
    """A venv (no system site-packages) with the client wheel installed by pip and a .pth to
    symlinks of only its third-party dependencies: none of runtime/, services/, the test kit
    or the web console is importable, as on a machine where only the client was installed."""
    tmp = tmp_path_factory.mktemp("client-only")
    wheel = _build_wheel(tmp / "wheel")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    # pip runs under the venv's interpreter (--python); without PYTHONPATH it sees no tuneforge.
    run = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=180, env=env, cwd=tmp,
    )
    assert run.returncode == 0 and "Successfully installed tuneforge-client" in run.stdout, run.stdout + run.stderr
    _link_top_levels(_third_party_closure(wheel, ("cli",)), tmp / "deps")
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True, timeout=60, env=env, cwd=tmp).stdout.strip())
    (site / "client-deps.pth").write_text(f"{tmp / 'deps'}\n")
    return {"wheel": wheel, "python": str(python), "tuneforge": str(venv / "bin" / "tuneforge"), "env": env, "cwd": str(tmp)}


def _run_in(venv: dict[str, Any], *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    # cwd is the venv's folder, not the repository: `python -c` puts the cwd on sys.path.
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, env=venv["env"], cwd=venv["cwd"])


def test_the_client_only_venv_sees_no_server_part(client_only):
    code = (
        "import importlib, tuneforge.client, grpc, google.protobuf\n"
        "assert tuneforge.client.__file__.startswith(sys.prefix), tuneforge.client.__file__\n"
        "for name in ('tuneforge.services', 'tuneforge.runtime', 'tuneforge.testing', 'tuneforge.web', 'torch'):\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ModuleNotFoundError:\n"
        "        continue\n"
        "    raise SystemExit(f'{name} is importable')\n"
    )
    run = _run_in(client_only, client_only["python"], "-c", "import sys\n" + code)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_cli_module_imports_in_a_client_only_venv(client_only):
    code = (
        "import importlib, pkgutil, tuneforge.cli\n"
        "names = [m.name for m in pkgutil.walk_packages(tuneforge.cli.__path__, 'tuneforge.cli.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "print(len(names))\n"
    )
    run = _run_in(client_only, client_only["python"], "-c", code)
    assert run.returncode == 0, run.stderr[-3000:]
    assert int(run.stdout) >= 10  # the walk found the modules (dataset, train, adapters, …)


_EVERY_HELP = """
import argparse, contextlib, io, json
from tuneforge.cli.main import build_parser, main

def commands(parser, path=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name)
                yield from commands(sub, (*path, name))

paths, failed = list(commands(build_parser())), {}
for path in paths:
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main([*path, "--help"])
        failed[" ".join(path)] = "returned instead of printing help"
    except SystemExit as exc:
        if exc.code not in (0, None) or "usage:" not in out.getvalue():
            failed[" ".join(path)] = f"exit {exc.code}: {err.getvalue()[-500:]}"
    except Exception as exc:
        failed[" ".join(path)] = repr(exc)
print(json.dumps({"commands": len(paths), "failed": failed}))
"""


def test_tuneforge_help_runs_in_a_client_only_venv(client_only):
    run = _run_in(client_only, client_only["tuneforge"], "--help")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "usage: tuneforge" in run.stdout


def test_every_subcommands_help_runs_in_a_client_only_venv(client_only):
    run = _run_in(client_only, client_only["python"], "-c", _EVERY_HELP)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["failed"] == {}
    assert result["commands"] >= 40  # enumerated from the parser: every group and its commands


@pytest.mark.parametrize("argv", [["serve"], ["serve", "trainer"], ["config", "show"], ["demo"], ["web"]],
                         ids=lambda argv: " ".join(argv))
def test_server_commands_in_a_client_only_venv_say_what_to_install(client_only, argv):
    run = _run_in(client_only, client_only["tuneforge"], *argv)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert "server parts, which are not installed" in run.stderr
    assert re.search(r"pip install '?tuneforge", run.stderr), run.stderr



def test_token_preview_in_a_client_only_venv_says_it_needs_the_trainer(client_only):
    code = "from tuneforge.cli import token_view\ntoken_view.token_views([{'messages': []}], 'some/model', 64)\n"
    run = _run_in(client_only, client_only["python"], "-c", code)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert "pip install tuneforge-trainer" in run.stderr

# -- the SDK is typed


def test_the_client_wheel_ships_py_typed_for_the_sdk_cli_and_stubs(client_only):
    names = set(zipfile.ZipFile(client_only["wheel"]).namelist())
    for package in ("client", "cli", "common", "dataset", "jobs", "registry", "trainer", "tts"):
        assert f"tuneforge/{package}/py.typed" in names
    assert "tuneforge/trainer/v1/trainer_pb2.pyi" in names


def test_upload_file_is_typed_as_the_services_upload_message():
    from tuneforge.client import Client
    from tuneforge.dataset.v1 import dataset_pb2
    from tuneforge.tts.v1 import tts_pb2

    returns = {}
    for overload in typing.get_overloads(Client.upload_file):
        hints = typing.get_type_hints(overload)
        returns[typing.get_args(hints["service"])] = hints["return"]
    assert returns[("dataset",)] is dataset_pb2.Upload
    assert returns[("tts",)] is tts_pb2.VoiceSample


def test_job_result_with_its_type_returns_that_message_and_refuses_another():
    from tuneforge.client import job_params, job_result
    from tuneforge.common.v1 import common_pb2
    from tuneforge.dataset.v1 import dataset_pb2
    from tuneforge.trainer.v1 import trainer_pb2

    job = common_pb2.Job(id="j1", kind="training")
    assert job_result(job, trainer_pb2.TrainingJobResult) is None  # no result yet
    job.result.Pack(trainer_pb2.TrainingJobResult(adapter_dir="/a", global_step=7))
    job.params.Pack(trainer_pb2.TrainingJobParams(adapter_name="bob"))
    result = job_result(job, trainer_pb2.TrainingJobResult)
    assert isinstance(result, trainer_pb2.TrainingJobResult) and result.global_step == 7
    assert job_params(job, trainer_pb2.TrainingJobParams).adapter_name == "bob"
    with pytest.raises(TypeError, match="TrainingJobResult, not a tuneforge.dataset.v1.TelegramJobResult"):
        job_result(job, dataset_pb2.TelegramJobResult)
