"""deploy/ stays deployable: every YAML parses, the Kubernetes objects validate against the
bundled OpenAPI schemas (kubernetes-validate, offline) and hang together (selectors, ports,
volumes, probes), compose services are complete, systemd units start tuneforge."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tuneforge.runtime.config import load_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "kubernetes"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
SYSTEMD = DEPLOY / "systemd"
SERVICES = ("dataset", "trainer", "tts", "registry")
KNOWN_KINDS = {
    ("v1", "Namespace"), ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "PersistentVolumeClaim"),
    ("v1", "Service"), ("v1", "ServiceAccount"), ("apps/v1", "Deployment"),
    ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
}


def k8s_objects() -> list[tuple[str, dict]]:
    objects = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                objects.append((path.name, doc))
    return objects


def by_kind(kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for _, o in k8s_objects() if o["kind"] == kind}


def test_every_yaml_under_deploy_parses():
    files = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))
    assert len(files) >= 10
    for path in files:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert docs, f"{path} is empty"


def test_kubernetes_objects_are_known_and_named():
    seen = set()
    for filename, obj in k8s_objects():
        assert (obj.get("apiVersion"), obj.get("kind")) in KNOWN_KINDS, f"{filename}: {obj.get('apiVersion')}/{obj.get('kind')}"
        name = obj["metadata"]["name"]
        assert name and (obj["kind"], name) not in seen, f"{filename}: duplicate {obj['kind']}/{name}"
        seen.add((obj["kind"], name))
        assert "namespace" not in obj["metadata"], f"{filename}: the namespace comes from kustomization.yaml"


def test_kubernetes_objects_match_the_api_schemas():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for filename, obj in k8s_objects():
        try:
            kubernetes_validate.validate(obj, "1.30", strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{filename} {obj['kind']}/{obj['metadata']['name']}: {exc}")


def test_kustomization_lists_every_manifest():
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kust["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present
    assert kust["namespace"] == by_kind("Namespace").popitem()[0]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kustomize_builds_offline():
    out = subprocess.run(["kubectl", "kustomize", str(K8S)], check=False, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(out.stdout) if d]
    assert kinds.count("Deployment") == 5 and all(
        d["metadata"].get("namespace") == "tuneforge" for d in yaml.safe_load_all(out.stdout) if d and d["kind"] != "Namespace"
    )


def test_deployments_hang_together():
    deployments, services = by_kind("Deployment"), by_kind("Service")
    pvcs, configmaps, secrets = by_kind("PersistentVolumeClaim"), by_kind("ConfigMap"), by_kind("Secret")
    accounts = by_kind("ServiceAccount")
    assert {f"tuneforge-{s}" for s in SERVICES} | {"vllm"} == set(deployments)
    for name, dep in deployments.items():
        spec = dep["spec"]
        pod = spec["template"]
        selector = spec["selector"]["matchLabels"]
        assert selector.items() <= pod["metadata"]["labels"].items(), f"{name}: selector does not match the pod labels"
        assert pod["spec"].get("serviceAccountName", "default") in accounts
        volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in pvcs, f"{name}: unknown PVC"
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps
        for container in pod["spec"]["containers"] + pod["spec"].get("initContainers", []):
            assert container["image"], f"{name}: container without image"
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes, f"{name}/{container['name']}: mount of unknown volume {mount['name']}"
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]]["stringData"]
        main = pod["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in main["ports"]}
        assert "tuneforge-data" in {v["persistentVolumeClaim"]["claimName"] for v in volumes.values() if "persistentVolumeClaim" in v}
        service = services[name]
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items(), f"{name}: Service selects nothing"
        for port in service["spec"]["ports"]:
            target = port["targetPort"]
            assert target in ports or target in ports.values(), f"{name}: Service targets missing port {target}"
        if name.startswith("tuneforge-"):
            svc = name.removeprefix("tuneforge-")
            grpc_port = ports["grpc"]
            args = main["args"]
            assert args[:2] == ["serve", svc] and args[args.index("--port") + 1] == str(grpc_port)
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                assert main[probe]["grpc"]["port"] == grpc_port, f"{name}: {probe} must use the gRPC health port"


def test_trainer_and_gpu_resources_and_rbac():
    deployments = by_kind("Deployment")
    for name in ("tuneforge-trainer", "tuneforge-tts", "vllm"):
        limits = deployments[name]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert int(limits["nvidia.com/gpu"]) >= 1, name
    trainer_sa = deployments["tuneforge-trainer"]["spec"]["template"]["spec"]["serviceAccountName"]
    role = by_kind("Role")["tuneforge-trainer-jobs"]
    binding = by_kind("RoleBinding")["tuneforge-trainer-jobs"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert {"kind": "ServiceAccount", "name": trainer_sa} in binding["subjects"]
    rules = {(g, r): set(rule["verbs"]) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert {"create", "get", "list", "watch", "delete"} <= rules[("batch", "jobs")]
    assert "get" in rules[("", "pods/log")]


def test_configmap_is_a_valid_tuneforge_config(tmp_path):
    toml = by_kind("ConfigMap")["tuneforge-config"]["data"]["tuneforge.toml"]
    (tmp_path / "tuneforge.toml").write_text(toml)
    config, _ = load_config(tmp_path / "tuneforge.toml", environ={"TUNEFORGE_AUTH_TOKEN": "x"})
    services = by_kind("Service")
    for target in (config.dataset_target, config.registry_target):
        host, port = target.rsplit(":", 1)
        assert int(port) in [p["port"] for p in services[host]["spec"]["ports"]], target
    assert config.vllm_url.startswith("http://vllm:")


def test_compose_services_are_complete():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert set(SERVICES) | {"vllm"} <= set(services)
    declared_volumes = set(compose["volumes"])
    host_ports = []
    env = {}
    for name, svc in services.items():
        assert svc.get("image") or svc.get("build"), f"{name}: neither image nor build"
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared_volumes, f"{name}: undeclared volume {source}"
            else:
                assert (COMPOSE.parent / source).exists(), f"{name}: bind mount {source} missing"
        for port in svc.get("ports", []):
            host_ports.append(port.rsplit(":", 1)[0])
        assert "healthcheck" in svc, name
        if name in SERVICES:
            env[name] = svc["environment"]
            assert svc["command"][:2] == ["serve", name]
            port = svc["command"][svc["command"].index("--port") + 1]
            assert f"127.0.0.1:{port}:{port}" in svc["ports"]
            assert str(port) in svc["healthcheck"]["test"][-3]
            assert any(v.startswith("tuneforge-data:/var/lib/tuneforge") for v in svc["volumes"])
            assert svc["env_file"][0]["path"] == "./tuneforge.env"
    assert len(host_ports) == len(set(host_ports)), "host ports collide"
    for name in ("trainer", "tts", "vllm"):
        devices = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"]
    assert env["trainer"]["TUNEFORGE_REGISTRY_TARGET"] == "registry:50054"
    assert env["trainer"]["TUNEFORGE_DATASET_TARGET"] == "dataset:50051"
    assert services["vllm"]["entrypoint"][-1].endswith("launch.py")
    assert (COMPOSE.parent / "Dockerfile").exists() and (COMPOSE.parent / "tuneforge.env.example").exists()


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, allow_no_value=True)
    parser.optionxform = str  # type: ignore[assignment]
    parser.read_string(path.read_text())
    return parser


def test_systemd_units_start_tuneforge():
    units = {p.name: _unit(p) for p in SYSTEMD.glob("*.service")}
    assert {"tuneforge.service", "tuneforge@.service"} <= set(units)
    for name, unit in units.items():
        assert {"Unit", "Service", "Install"} <= set(unit.sections()), name
        exec_start = unit["Service"]["ExecStart"]
        assert exec_start.split()[0].endswith("/tuneforge") and exec_start.split()[1] == "serve", name
        assert unit["Service"]["EnvironmentFile"], name
        assert unit["Service"]["NoNewPrivileges"] == "yes" and unit["Service"]["ProtectSystem"] == "strict"
        assert unit["Service"]["User"] == "tuneforge"
    assert units["tuneforge.service"]["Service"]["ExecStart"].endswith("serve all")
    assert units["tuneforge@.service"]["Service"]["ExecStart"].endswith("serve %i")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_finds_only_missing_binaries():
    for path in SYSTEMD.glob("*.service"):
        out = subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)], check=False, capture_output=True, text=True, timeout=30)
        problems = [
            line for line in out.stderr.splitlines()
            if line.strip() and "is not executable" not in line and "No such file" not in line
            and "Failed to prepare filename" not in line and "Unit tuneforge" not in line
        ]
        assert not problems, problems
