"""The card's layout: each service a deployable of its own (its package, a pyproject with only
what it needs, a Dockerfile) on one runtime library; the client SDK + CLI apart; the registry
and dataset services install and serve without torch."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("dataset", "trainer", "tts", "registry")
HEAVY = ("torch", "transformers", "peft", "trl", "accelerate", "bitsandbytes", "datasets", "qwen-tts")
TORCH_FREE = {"runtime": REPO / "runtime", "registry": REPO / "services" / "registry",
              "dataset": REPO / "services" / "dataset", "client": REPO / "clients" / "python"}


def requirement_names(pyproject: Path) -> set[str]:
    """Every distribution a pyproject requires, its extras included (names normalised)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    reqs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in reqs}


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_a_distribution_with_its_package_and_dockerfile(service):
    root = REPO / "services" / service
    assert tomllib.loads((root / "pyproject.toml").read_text())["project"]["name"] == f"tuneforge-{service}"
    assert (root / "tuneforge" / "services" / service / "server.py").is_file()
    assert (root / "Dockerfile").is_file()
    assert not (root / "tuneforge" / "__init__.py").exists() and not (root / "tuneforge" / "services" / "__init__.py").exists(), \
        "tuneforge and tuneforge.services are namespace packages shared by the parts"


def test_no_part_holds_another_parts_packages():
    assert not (REPO / "tuneforge" / "services").exists() and not (REPO / "tuneforge" / "runtime").exists()
    assert not (REPO / "tuneforge" / "cli").exists() and not (REPO / "tuneforge" / "__init__.py").exists()
    assert sorted(p.name for p in (REPO / "services").iterdir() if p.is_dir()) == sorted(SERVICES)


@pytest.mark.parametrize("part", sorted(TORCH_FREE))
def test_torch_free_parts_require_no_ml_stack(part):
    names = requirement_names(TORCH_FREE[part] / "pyproject.toml")
    assert not names & set(HEAVY), f"{part} requires {sorted(names & set(HEAVY))}"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_requires_the_runtime_and_no_other_service(service):
    names = requirement_names(REPO / "services" / service / "pyproject.toml")
    assert "tuneforge-runtime" in names
    assert not {f"tuneforge-{s}" for s in SERVICES if s != service} & names


def test_all_in_one_distribution_requires_every_part():
    names = requirement_names(REPO / "pyproject.toml")
    assert {"tuneforge-client", "tuneforge-runtime", *(f"tuneforge-{s}" for s in SERVICES)} <= names


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_image_installs_and_serves_only_its_service(service):
    text = (REPO / "services" / service / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (services/\S+)", text, flags=re.M))
    assert copied == {f"services/{service}"}
    assert f'CMD ["serve", "{service}"' in text
    has_torch = '"torch==' in text
    assert has_torch == (service in ("trainer", "tts"))


def _wheel(tmp_path: Path, source: Path) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(source)],
        capture_output=True, text=True, timeout=180,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return set(zipfile.ZipFile(next(tmp_path.glob("*.whl"))).namelist())


@pytest.mark.parametrize("service", ("registry", "dataset"))
def test_service_wheel_holds_only_its_own_package(tmp_path, service):
    names = {n for n in _wheel(tmp_path, REPO / "services" / service) if not n.startswith(f"tuneforge_{service}-")}
    assert f"tuneforge/services/{service}/server.py" in names
    assert all(n.startswith(f"tuneforge/services/{service}/") for n in names), sorted(names)[:5]


def test_runtime_wheel_holds_the_runtime_and_audio_only(tmp_path):
    names = {n for n in _wheel(tmp_path, REPO / "runtime") if not n.startswith("tuneforge_runtime-")}
    assert {"tuneforge/runtime/server.py", "tuneforge/runtime/errors.py", "tuneforge/audio/whisper.py"} <= names
    assert all(n.startswith(("tuneforge/runtime/", "tuneforge/audio/")) for n in names), sorted(names)[:5]


# Makes torch & co. unimportable, as in an environment where only the registry and dataset
# distributions are installed.
BLOCK_ML = f"""
import sys
class _NoMLStack:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {tuple(h.replace("-", "_") for h in HEAVY)!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
        return None
sys.meta_path.insert(0, _NoMLStack())
"""


def test_registry_and_dataset_serve_with_torch_unavailable(tmp_path):
    code = BLOCK_ML + (
        "import asyncio\n"
        "from tuneforge.runtime.config import load_config\n"
        "from tuneforge.runtime.server import TuneforgeServer\n"
        "from tuneforge.client import Client\n"
        "async def main():\n"
        f"    cfg, _ = load_config(overrides={{'data_root': {str(tmp_path / 'var')!r}, 'port': 0}}, environ={{}})\n"
        "    server = TuneforgeServer(cfg, services=('registry', 'dataset'))\n"
        "    port = await server.start()\n"
        "    def calls():\n"
        "        with Client(f'127.0.0.1:{port}', timeout=30) as tf:\n"
        "            return len(tf.registry.list_adapters().adapters), len(tf.dataset.list_datasets().datasets)\n"
        "    counts = await asyncio.to_thread(calls)\n"
        "    await server.stop()\n"
        "    assert counts == (0, 0), counts\n"
        "asyncio.run(main())\n"
        "try:\n"
        "    import torch\n"
        "except ModuleNotFoundError:\n"
        "    print('served without torch')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "served without torch" in out.stdout


def test_a_worker_under_another_interpreter_imports_every_part_through_worker_pythonpath(tmp_path):
    from tuneforge.runtime.pythonpath import worker_pythonpath

    code = "import tuneforge.runtime.server, tuneforge.services.registry.server, tuneforge.services.trainer.server, tuneforge.client; print('ok')"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": worker_pythonpath()}
    # -S: no site-packages .pth files (no editable finders): only PYTHONPATH finds tuneforge.
    out = subprocess.run([sys.executable, "-S", "-c", "import sys; sys.path += " + repr(_site_dirs()) + "\n" + code],
                         capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def _site_dirs() -> list[str]:
    """site-packages without their .pth files: third-party packages only, no editable finders."""
    import site

    return [p for p in site.getsitepackages() if Path(p).is_dir()]
