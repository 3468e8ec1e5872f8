"""A stand-in for ``kubectl`` against a one-node "cluster" that runs Jobs as local processes.

It implements the part of kubectl's command-line contract the Kubernetes executor uses:
``[-n NS] apply -f -`` (a batch/v1 Job as JSON on stdin; applying the same Job again answers
"unchanged"), ``get job NAME -o json``, ``get pods -l job-name=NAME -o json`` and
``delete job NAME --grace-period=N``, with the global ``--request-timeout`` anywhere. Each
Job's single container command runs as a local process (its image is ignored); exit codes,
SIGTERM on delete with a grace period, and foreground deletion behave as on a cluster. State
lives in ``$FAKE_KUBECTL_STATE``. Every invocation is appended to ``calls.jsonl`` there.

A pod's environment is the image's (``PATH``, ``HOME``, the locale, the Python path) and what
the manifest sets, never the environment of whoever ran kubectl. Secrets live in
``$FAKE_KUBECTL_STATE/secrets/<name>.json`` (``{key: value}``); a container's
``valueFrom.secretKeyRef`` is resolved from there as a kubelet would (an ``optional`` key that
is missing leaves the variable unset). ``$FAKE_KUBECTL_FAIL_RATE`` (0..1) makes that share of
API calls fail the way a flaky API server does ("Unable to connect to the server", exit 1).

Two windows make the API unusable for a while (:func:`outage`, :func:`hang`): during an
outage every call fails at once as kubectl 1.32 does against an API server that refuses
connections (its texts, exit 1); during a hang a call waits forever, as kubectl does on an exec
credential plugin that never returns — its ``--request-timeout`` does not bound that (checked
with kubectl 1.32) — in a child process in kubectl's process group, as the plugin would be. Calls made
after a window behave normally; a call hung in it stays hung until it is killed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

API_SERVER = "127.0.0.1:6443"
_DISCOVERY_REFUSED = (
    'E1207 02:21:40.878527   10149 memcache.go:265] "Unhandled Error" err="couldn\'t get current server API group '
    f'list: Get \\"https://{API_SERVER}/api?timeout=32s\\": dial tcp {API_SERVER}: connect: connection refused"'
)
REFUSED = f"The connection to the server {API_SERVER} was refused - did you specify the right host or port?"
APPLY_REFUSED = (
    f'error: error validating "STDIN": error validating data: failed to download openapi: Get '
    f'"https://{API_SERVER}/openapi/v2?timeout=32s": dial tcp {API_SERVER}: connect: connection refused; '
    "if you choose to ignore these errors, turn validation off with --validate=false"
)
_GLOBAL_FLAGS_WITH_VALUE = ("-n", "--namespace")
_IMAGE_ENV = {"PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV"}


def outage(state: Path, seconds: float) -> None:
    """From now on for ``seconds``, the API server refuses connections."""
    _window(state, "outage_until", seconds)


def hang(state: Path, seconds: float) -> None:
    """From now on for ``seconds``, a kubectl call never returns (until it is killed)."""
    _window(state, "hang_until", seconds)


def hung_plugins(state: Path) -> list[int]:
    """Pids of the credential plugins that calls hung on."""
    path = state / "plugins.pids"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def _window(state: Path, name: str, seconds: float) -> None:
    state.mkdir(parents=True, exist_ok=True)
    (state / name).write_text(str(time.time() + seconds))


def _in_window(name: str) -> bool:
    path = _state() / name
    return path.exists() and time.time() < float(path.read_text() or 0)


def _state() -> Path:
    root = Path(os.environ.get("FAKE_KUBECTL_STATE", "/tmp/fake-kubectl"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def _not_found(kind: str, name: str) -> int:
    print(f'Error from server (NotFound): {kind}.batch "{name}" not found', file=sys.stderr)
    return 1


def _job_dir(name: str) -> Path:
    return _state() / "jobs" / name


def _apply(manifest: dict) -> int:
    if manifest.get("kind") == "TrainJob" and manifest.get("apiVersion") == TRAINJOB_API:
        return _apply_trainjob(manifest)
    if manifest.get("kind") != "Job" or manifest.get("apiVersion") != "batch/v1":
        print("error: only batch/v1 Job is supported", file=sys.stderr)
        return 1
    name = manifest["metadata"]["name"]
    jdir = _job_dir(name)
    if jdir.exists():
        if json.loads((jdir / "manifest.json").read_text()) == manifest:
            print(f"job.batch/{name} unchanged")
            return 0
        print(f'The Job "{name}" is invalid: spec.template: Invalid value: "": field is immutable', file=sys.stderr)
        return 1
    jdir.mkdir(parents=True)
    (jdir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    runner = subprocess.Popen(
        [sys.executable, "-m", "tuneforge.testing.fake_kubectl", "_run", name],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, env={**os.environ, "FAKE_KUBECTL_STATE": str(_state())},
    )
    (jdir / "runner.pid").write_text(str(runner.pid))
    print(f"job.batch/{name} created")
    return 0


def _run(name: str) -> int:
    """The "kubelet": run the container command, forward SIGTERM, record the exit code."""
    jdir = _job_dir(name)
    manifest = json.loads((jdir / "manifest.json").read_text())
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    env = {**_image_env(), **_container_env(container.get("env", []))}
    child = subprocess.Popen(container["command"], cwd=container.get("workingDir") or None, env=env, start_new_session=True)
    (jdir / "pod.pid").write_text(str(child.pid))

    def forward(signum, frame):  # noqa: ARG001
        try:
            os.killpg(child.pid, signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    rc = child.wait()
    code = 128 - rc if rc < 0 else rc  # a signal shows as 128+N, as in a container
    (jdir / "exit_code").write_text(str(code))
    if (jdir / "deleting").exists():
        for path in jdir.iterdir():
            path.unlink()
        jdir.rmdir()
    return 0


def _image_env() -> dict[str, str]:
    """What the image itself sets (its ENV lines): a pod gets none of the service's environment."""
    return {name: value for name, value in os.environ.items() if name in _IMAGE_ENV}


def _container_env(entries: list[dict]) -> dict[str, str]:
    env = {}
    for entry in entries:
        if "value" in entry:
            env[entry["name"]] = entry["value"]
            continue
        ref = entry["valueFrom"]["secretKeyRef"]
        path = _state() / "secrets" / f"{ref['name']}.json"
        values = json.loads(path.read_text()) if path.exists() else {}
        if ref["key"] in values:
            env[entry["name"]] = values[ref["key"]]
        elif not ref.get("optional"):
            raise SystemExit(f"CreateContainerConfigError: secret {ref['name']!r} has no key {ref['key']!r}")
    return env


def _flaky() -> bool:
    rate = float(os.environ.get("FAKE_KUBECTL_FAIL_RATE") or 0)
    if rate and random.random() < rate:
        print("Unable to connect to the server: net/http: TLS handshake timeout", file=sys.stderr)
        return True
    return False


def _get_job(name: str) -> int:
    jdir = _job_dir(name)
    if not jdir.exists():
        return _not_found("jobs", name)
    manifest = json.loads((jdir / "manifest.json").read_text())
    status: dict = {}
    code_file = jdir / "exit_code"
    if code_file.exists():
        status["succeeded" if code_file.read_text() == "0" else "failed"] = 1
    else:
        status["active"] = 1
    print(json.dumps({**manifest, "status": status}))
    return 0


def _get_pods(selector: str) -> int:
    name = selector.split("=", 1)[1]
    jdir = _job_dir(name)
    items = []
    if jdir.exists():
        state: dict = {"running": {}}
        if (jdir / "exit_code").exists():
            state = {"terminated": {"exitCode": int((jdir / "exit_code").read_text())}}
        items.append({"metadata": {"name": f"{name}-pod"}, "status": {"containerStatuses": [{"name": "worker", "state": state}]}})
    print(json.dumps({"kind": "List", "items": items}))
    return 0


def _delete_job(name: str, grace: int) -> int:
    jdir = _job_dir(name)
    if not jdir.exists():
        return 0
    (jdir / "deleting").touch()
    if (jdir / "exit_code").exists():
        for path in jdir.iterdir():
            path.unlink()
        jdir.rmdir()
        return 0
    pid = int((jdir / "runner.pid").read_text())
    try:
        os.kill(pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
    except ProcessLookupError:
        pass
    if grace > 0:
        killer = subprocess.Popen(
            [sys.executable, "-c", f"import os,time,signal\ntime.sleep({grace})\ntry: os.killpg({int((jdir / 'pod.pid').read_text()) if (jdir / 'pod.pid').exists() else pid}, signal.SIGKILL)\nexcept OSError: pass"],
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        del killer
    else:
        pod = jdir / "pod.pid"
        if pod.exists():
            try:
                os.killpg(int(pod.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass
    print(f'job.batch "{name}" deleted')
    return 0


def _unavailable(args: list[str]) -> int | None:
    """The exit code of a call the API's state keeps from answering, or None."""
    if _in_window("hang_until"):
        plugin = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        with open(_state() / "plugins.pids", "a") as fh:
            fh.write(f"{plugin.pid}\n")
        plugin.wait()
        return 1
    if _in_window("outage_until"):
        if args[:1] != ["apply"]:
            print("\n".join([_DISCOVERY_REFUSED] * 5), file=sys.stderr)
        print(APPLY_REFUSED if args[:1] == ["apply"] else REFUSED, file=sys.stderr)
        return 1
    return None


def _without_global_flags(argv: list[str]) -> list[str]:
    args: list[str] = []
    rest = iter(argv)
    for arg in rest:
        if arg in _GLOBAL_FLAGS_WITH_VALUE:
            next(rest, None)
        elif not arg.startswith(("--request-timeout=", "--namespace=")):
            args.append(arg)
    return args


def main(argv: list[str]) -> int:
    with open(_state() / "calls.jsonl", "a") as fh:
        fh.write(json.dumps(argv) + "\n")
    if argv[:1] == ["_run"]:
        return _run(argv[1])
    if argv[:1] == ["_runtj"]:  # _runtj NAME node N PORT
        return _run_trainjob_node(argv[1], int(argv[3]), int(argv[4]))
    args = _without_global_flags(argv)
    if (code := _unavailable(args)) is not None:
        return code
    if _flaky():
        return 1
    if args[:3] == ["apply", "-f", "-"]:
        return _apply(json.load(sys.stdin))
    if args[:2] == ["get", "job"] and "-o" in args:
        return _get_job(args[2])
    if args[:2] == ["get", "pods"] and "-l" in args:
        return _get_pods(args[args.index("-l") + 1])
    if args[:2] == ["get", "trainjob"] and "-o" in args:
        return _get_trainjob(args[2])
    if args[:2] == ["delete", "trainjob"]:
        grace = next((int(a.split("=", 1)[1]) for a in args if a.startswith("--grace-period=")), 30)
        return _delete_trainjob(args[2], grace)
    if args[:2] == ["delete", "job"]:
        grace = next((int(a.split("=", 1)[1]) for a in args if a.startswith("--grace-period=")), 30)
        return _delete_job(args[2], grace)
    print(f"fake kubectl: unsupported command {argv}", file=sys.stderr)
    return 2


# ---- Kubeflow Trainer v2 TrainJobs (runtime torch-distributed) ---------------------------------
# ``apply`` of a trainer.kubeflow.org/v1alpha1 TrainJob runs its ``trainer.command`` once per node
# (``numNodes``) as local processes, each with the torch plugin's ``PET_*`` variables (master
# 127.0.0.1 on a free port); ``get trainjob NAME -o json`` answers with the TrainJob and its
# ``status.conditions`` (Complete, or Failed naming the node and its exit code), as the trainer
# controller sets them; ``delete trainjob NAME --grace-period=N`` sends SIGTERM to every node,
# SIGKILL after the grace period, and removes the TrainJob.
TRAINJOB_API = "trainer.kubeflow.org/v1alpha1"


def _trainjob_dir(name: str) -> Path:
    return _state() / "trainjobs" / name


def _apply_trainjob(manifest: dict) -> int:
    name = manifest["metadata"]["name"]
    jdir = _trainjob_dir(name)
    if jdir.exists():
        if json.loads((jdir / "manifest.json").read_text()) == manifest:
            print(f"trainjob.trainer.kubeflow.org/{name} unchanged")
            return 0
        print(f'The TrainJob "{name}" is invalid: spec.trainer: Invalid value: "object": field is immutable', file=sys.stderr)
        return 1
    jdir.mkdir(parents=True)
    (jdir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    port = _free_port()
    for node in range(int(manifest["spec"]["trainer"].get("numNodes") or 1)):
        runner = subprocess.Popen(
            [sys.executable, "-m", "tuneforge.testing.fake_kubectl", "_runtj", name, "node", str(node), str(port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, "FAKE_KUBECTL_STATE": str(_state())},
        )
        (jdir / f"runner{node}.pid").write_text(str(runner.pid))
    print(f"trainjob.trainer.kubeflow.org/{name} created")
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_trainjob_node(name: str, node: int, port: int = 0) -> int:
    """One node's pod: the trainer container with the PET_* variables; its exit code recorded."""
    jdir = _trainjob_dir(name)
    manifest = json.loads((jdir / "manifest.json").read_text())
    trainer = manifest["spec"]["trainer"]
    env = {**_image_env(), **_container_env(trainer.get("env", [])),
           "PET_NNODES": str(trainer.get("numNodes") or 1), "PET_NPROC_PER_NODE": str(trainer.get("numProcPerNode") or 1),
           "PET_NODE_RANK": str(node), "PET_MASTER_ADDR": "127.0.0.1", "PET_MASTER_PORT": str(port),
           "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}  # fmt: skip
    child = subprocess.Popen(trainer["command"], env=env, start_new_session=True)
    (jdir / f"pod{node}.pid").write_text(str(child.pid))

    def forward(signum, frame):  # noqa: ARG001
        try:
            os.killpg(child.pid, signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    rc = child.wait()
    try:  # a deleted TrainJob has no status to write
        (jdir / f"exit_code{node}").write_text(str(128 - rc if rc < 0 else rc))
    except OSError:
        pass
    return 0


def _trainjob_conditions(jdir: Path, nodes: int) -> list[dict]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    conditions = [{"type": "Created", "status": "True", "reason": "JobsCreationSucceeded",
                   "message": "succeeded to create Jobs", "lastTransitionTime": now}]  # fmt: skip
    codes = {n: int((jdir / f"exit_code{n}").read_text()) for n in range(nodes) if (jdir / f"exit_code{n}").exists()}
    failed = sorted(n for n, code in codes.items() if code != 0)
    if failed:
        conditions.append({"type": "Failed", "status": "True", "reason": "JobsFailed", "lastTransitionTime": now,
                           "message": f"jobset failed: node {failed[0]} exited with code {codes[failed[0]]}"})  # fmt: skip
    elif len(codes) == nodes:
        conditions.append({"type": "Complete", "status": "True", "reason": "JobsCompleted",
                           "message": "jobset completed successfully", "lastTransitionTime": now})  # fmt: skip
    return conditions


def _get_trainjob(name: str) -> int:
    jdir = _trainjob_dir(name)
    if not jdir.exists():
        print(f'Error from server (NotFound): trainjobs.trainer.kubeflow.org "{name}" not found', file=sys.stderr)
        return 1
    manifest = json.loads((jdir / "manifest.json").read_text())
    nodes = int(manifest["spec"]["trainer"].get("numNodes") or 1)
    print(json.dumps({**manifest, "status": {"conditions": _trainjob_conditions(jdir, nodes)}}))
    return 0


def _delete_trainjob(name: str, grace: int) -> int:
    jdir = _trainjob_dir(name)
    if not jdir.exists():
        return 0
    pods = [int(p.read_text()) for p in jdir.glob("pod*.pid")]
    for pid in pods:
        try:
            os.killpg(pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
        except ProcessLookupError:
            pass
    if grace > 0 and pods:
        subprocess.Popen(
            [sys.executable, "-c", "import os,signal,sys,time\ntime.sleep(float(sys.argv[1]))\nfor p in sys.argv[2:]:\n"
             "    try: os.killpg(int(p), signal.SIGKILL)\n    except OSError: pass", str(grace), *map(str, pods)],
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    import shutil

    shutil.rmtree(jdir, ignore_errors=True)
    print(f'trainjob.trainer.kubeflow.org "{name}" deleted')
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
