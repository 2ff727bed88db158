"""Pytest fixtures shared by every test suite: one real PostgreSQL per worker process.

Each xdist worker starts its own embedded server in its own data directory, so workers never
share state and never clash with a running ``make up``. Service tests migrate their database
once per worker and empty its tables between tests.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from pcse_kit.auth import Role, SigningKey
from pcse_kit.broker import EmbeddedNats
from pcse_kit.postgres import EmbeddedPostgres
from pcse_kit.service import create_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from fastapi import FastAPI
    from sqlalchemy import MetaData
    from sqlalchemy.engine import Connection

    from pcse_kit.service import ServiceDefinition


@contextmanager
def server_directory() -> Iterator[Path]:
    """A directory for a PostgreSQL data directory, outside pytest's temporary tree.

    pytest keeps ``/tmp/pytest-of-<user>`` at mode 0700 and resets it when a worker starts,
    which would shut the server's own user out of a data directory below it.
    """
    path = Path(tempfile.mkdtemp(prefix="pcse-test-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[EmbeddedPostgres]:
    with server_directory() as directory:
        server = EmbeddedPostgres(
            directory / "data",
            durable=False,  # a test database need not survive a power cut; it runs faster
        )
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedNats]:
    """One NATS JetStream server per worker, without users: tests name their streams apart."""
    with server_directory() as directory:
        server = EmbeddedNats(directory / "nats")
        server.start()
        try:
            yield server
        finally:
            server.stop()


TEST_ISSUER = "pcse-status-tests"
TEST_AUDIENCE = "pcse-status"

Token = Callable[..., str]


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    """The key every test token is signed with; services under test trust only it."""
    return SigningKey.generate()


@pytest.fixture(scope="session")
def public_key_file(signing_key: SigningKey, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "public.pem"
    path.write_bytes(signing_key.public_pem)
    return path


@pytest.fixture(scope="session")
def token(signing_key: SigningKey) -> Token:
    """``token("practice", ["A81001"])``: a valid token for a role over a scope."""

    def make(
        role: Role | str,
        scope: list[str] | tuple[str, ...] = (),
        *,
        subject: str | None = None,
        ttl_seconds: int = 600,
        audience: str = TEST_AUDIENCE,
    ) -> str:
        return signing_key.sign(
            subject=subject or f"test-{role}",
            role=role,
            scope=scope,
            issuer=TEST_ISSUER,
            audience=audience,
            ttl_seconds=ttl_seconds,
        )

    return make


@pytest.fixture
async def client(
    app: FastAPI, service_metadata: MetaData, token: Token
) -> AsyncIterator[httpx.AsyncClient]:
    """An admin's client of the service under test; the tables are emptied after each test.

    A service's conftest provides ``app`` (session-scoped, through :func:`running_service`)
    and ``service_metadata``. Tests of who may see what pass their own Authorization header.
    """
    async with client_for(app) as http:
        http.headers["authorization"] = f"Bearer {token('admin')}"
        yield http
    await truncate_all(app, service_metadata)


@asynccontextmanager
async def running_service(
    service: ServiceDefinition, postgres: EmbeddedPostgres, public_key_file: Path, **settings: Any
) -> AsyncIterator[FastAPI]:
    """The service's real app, migrated, its lifespan running, on its own database."""
    postgres.create_database(service.name)
    settings_cls: Any = service.settings_factory
    app = create_app(
        service,
        settings_cls(
            database_url=postgres.dsn(service.name),
            auth_public_key_file=public_key_file,
            auth_issuer=TEST_ISSUER,
            auth_audience=TEST_AUDIENCE,
            **settings,
        ),
    )
    async with app.router.lifespan_context(app):
        yield app


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def truncate_all(app: FastAPI, metadata: MetaData) -> None:
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with app.state.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


async def graphql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> dict[str, Any]:
    """POST a GraphQL request, as ``token``'s holder if given; the decoded body, any status."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    body: dict[str, Any] = response.json()
    return body


MALFORMED_REPRESENTATIONS: list[object] = [
    {"odsCode": "A81001"},  # no __typename
    "A81001",  # not an object
    {"__typename": "Nonsense"},  # not an entity here
]


async def assert_bad_representations_fail_alone(
    client: httpx.AsyncClient, *, good: dict[str, Any], bad: list[object], selection: str
) -> None:
    """``_entities`` with bad items among good ones: each bad item gets its own clean
    BAD_USER_INPUT error, and the good ones, before and after, still resolve."""
    representations = [good, *MALFORMED_REPRESENTATIONS, *bad, good]
    query = (
        "query ($reps: [_Any!]!) { _entities(representations: $reps) "
        f"{{ ... on {good['__typename']} {{ {selection} }} }} }}"
    )
    body = await graphql(client, query, {"reps": representations})

    entities = body["data"]["_entities"]
    last = len(representations) - 1
    assert entities[0] is not None
    assert entities[last] == entities[0]
    assert entities[1:last] == [None] * (last - 1)
    errors = {tuple(error["path"]): error for error in body["errors"]}
    assert set(errors) == {("_entities", index) for index in range(1, last)}
    for error in errors.values():
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "Traceback" not in str(error)
        assert "Error" not in error["message"]


async def assert_migrations_match_models(app: FastAPI, metadata: MetaData) -> None:
    """The migrated database has exactly the tables, columns and constraints the models say."""

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff: list[Any] = compare_metadata(context, metadata)
        return diff

    async with app.state.engine.connect() as connection:
        differences = await connection.run_sync(compare)
    assert differences == [], f"models and migrations differ: {differences}"
