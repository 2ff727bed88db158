"""The container deployment as shipped: no default password anywhere, every service migrated
by its migrator in a job of its own, and deploy/postgres-init's roles doing what the services
need and nothing more (run for real against a fresh PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
import yaml  # type: ignore[import-untyped]  # no stubs installed; read as plain data
from payments.definition import SERVICE as PAYMENTS
from pcse_kit.db import create_engine
from pcse_kit.postgres import EmbeddedPostgres, bin_dir
from pcse_kit.roles import audit_exposure
from pcse_kit.service import migrate
from pcse_kit.testing import server_directory
from performers.definition import SERVICE as PERFORMERS
from records.definition import SERVICE as RECORDS

from stack import ROOT, SERVICES

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pcse_kit.service import ServiceDefinition

COMPOSE = ROOT / "docker-compose.yml"
INIT = ROOT / "deploy" / "postgres-init" / "10-service-databases.sh"
DEFINITIONS: dict[str, ServiceDefinition] = {
    "payments": PAYMENTS,
    "records": RECORDS,
    "performers": PERFORMERS,
}


def test_compose_has_no_default_password() -> None:
    """The finding: every password fell back to a default published in the file itself."""
    text = COMPOSE.read_text()
    references = re.findall(r"\$\{([A-Z_]*PASSWORD[A-Z_]*)(:?[-?])?", text)
    assert references
    assert {operator for _, operator in references} == {":?"}, references


def test_compose_migrates_as_the_migrator_and_serves_as_the_service_role() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for name in SERVICES:
        prefix = name.upper()
        job, service = services[f"{name}-migrate"], services[name]
        assert f"{prefix}_MIGRATE_DATABASE_URL" in job["environment"]
        assert f"{name}_migrator:" in job["environment"][f"{prefix}_MIGRATE_DATABASE_URL"]
        assert not any("MIGRATE_DATABASE_URL" in key for key in service["environment"])
        assert not any("MIGRATOR" in str(value) for value in service["environment"].values())
        assert service["environment"][f"{prefix}_MIGRATE_ON_START"] == "false"
        assert service["depends_on"][f"{name}-migrate"] == {
            "condition": "service_completed_successfully"
        }


PASSWORDS = {
    f"{name.upper()}_{kind}_PASSWORD": f"{name}-{kind.lower()}-pw"
    for name in SERVICES
    for kind in ("DB", "MIGRATOR")
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
                **PASSWORDS,
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
    service_url = _url(initialised, service, PASSWORDS[f"{prefix}_DB_PASSWORD"], service)
    migrator_url = _url(
        initialised, f"{service}_migrator", PASSWORDS[f"{prefix}_MIGRATOR_PASSWORD"], service
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
