"""Pytest fixtures shared by every test suite: one real PostgreSQL per worker process.

Each xdist worker starts its own embedded server in its own data directory, so workers never
share state and never clash with a running ``make up``. Service tests migrate their database
once per worker and empty its tables between tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import tempfile
import time
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
from pcse_kit.db import create_engine, create_sessionmaker
from pcse_kit.postgres import EmbeddedPostgres
from pcse_kit.roles import ServiceRoles, provision
from pcse_kit.service import create_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from fastapi import FastAPI
    from sqlalchemy import MetaData
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

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


def service_roles(name: str, database: str | None = None) -> ServiceRoles:
    """The migrator and service roles of service ``name`` on a test server (trust
    authentication: the passwords are there for the URLs' sake)."""
    return ServiceRoles(
        database=database or name,
        migrator=f"pcse_{name}_migrator",
        service=f"pcse_{name}",
        migrator_password="test-only",  # noqa: S106 - a trust-authenticated test server
        service_password="test-only",  # noqa: S106 - likewise
    )


@asynccontextmanager
async def running_service(
    service: ServiceDefinition, postgres: EmbeddedPostgres, public_key_file: Path, **settings: Any
) -> AsyncIterator[FastAPI]:
    """The service's real app, migrated, its lifespan running, on its own database: as the
    service's own role, migrated by the migrator role, as in production."""
    service_url, migrator_url = await provision(postgres.dsn(), service_roles(service.name))
    settings_cls: Any = service.settings_factory
    app = create_app(
        service,
        settings_cls(
            database_url=service_url,
            migrate_database_url=migrator_url,
            auth_public_key_file=public_key_file,
            auth_issuer=TEST_ISSUER,
            auth_audience=TEST_AUDIENCE,
            **settings,
        ),
    )
    owner = create_engine(migrator_url, application_name=f"{service.name}-test-owner", pool_size=1)
    app.state.owner_engine = owner
    try:
        async with app.router.lifespan_context(app):
            yield app
    finally:
        await owner.dispose()


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def owner_engine(app: FastAPI) -> AsyncEngine:
    """An engine as the tables' owner (the migrator): for emptying tables between tests, which
    the service's own role may not do."""
    engine: AsyncEngine = app.state.owner_engine
    return engine


def owner_sessionmaker(app: FastAPI) -> async_sessionmaker[AsyncSession]:
    """Sessions as the tables' owner, for what only a migration or a data load may do (set a
    sequence: the demo data does)."""
    return create_sessionmaker(owner_engine(app))


async def truncate_all(app: FastAPI, metadata: MetaData) -> None:
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with owner_engine(app).begin() as connection:
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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def reheader(token: str, header: dict[str, Any]) -> str:
    """``token`` with another header, its payload and signature kept."""
    _, payload, signature = token.split(".")
    return f"{_b64(json.dumps(header).encode())}.{payload}.{signature}"


def _hs256(payload: dict[str, Any], secret: bytes) -> str:
    """The classic confusion: a public key used as an HMAC secret (libraries refuse to make
    one, so it is made by hand)."""
    header = _b64(json.dumps({"alg": "HS256"}).encode())
    signing_input = f"{header}.{_b64(json.dumps(payload).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def malformed_tokens(key: SigningKey, claims: dict[str, Any]) -> dict[str, str]:
    """Tokens broken every way we know of, made from valid ``claims`` signed with ``key``:
    each must be refused as UNAUTHENTICATED (401), never answered with a server error."""
    good = key.sign_claims(claims)
    _, payload, signature = good.split(".")
    now = int(time.time())
    return {
        # An alg the key cannot verify was an HTTP 500 (a TypeError inside the JWT library).
        "ES256 header on an Ed25519 signature": reheader(good, {"alg": "ES256", "typ": "JWT"}),
        "RS256 header on an Ed25519 signature": reheader(good, {"alg": "RS256"}),
        "HS256, signed with the public key as a secret": _hs256(claims, key.public_pem),
        "alg none": reheader(good, {"alg": "none"})[: -len(signature)],
        "no alg": reheader(good, {"typ": "JWT"}),
        "a kid that is a number": reheader(good, {"alg": "EdDSA", "kid": 7}),
        "a header that is a list": f"{_b64(b'[1]')}.{payload}.{signature}",
        "a header that is not base64": f"!!!.{payload}.{signature}",
        "a header that is not JSON": f"{_b64(b'not json')}.{payload}.{signature}",
        "a payload that is not JSON": f"{good.split('.')[0]}.{_b64(b'nope')}.{signature}",
        "two parts": f"{good.split('.')[0]}.{payload}",
        "four parts": f"{good}.x",
        "a signature cut short": good[:-10],
        "exp that is a string": key.sign_claims({**claims, "exp": "tomorrow"}),
        "iat that is a list": key.sign_claims({**claims, "iat": [1]}),
        "aud that is a number": key.sign_claims({**claims, "aud": 5}),
        "a subject that is an object": key.sign_claims({**claims, "sub": {"id": 1}}),
        "a role that is a number": key.sign_claims({**claims, "role": 1}),
        "a scope that is a number": key.sign_claims({**claims, "scope": 5}),
        "iat in the future": key.sign_claims({**claims, "iat": now + 3600}),
        "not yet valid": key.sign_claims({**claims, "nbf": now + 3600}),
    }
