# mypy: disallow-untyped-decorators=False
# (strawberry.field(description=...) as a decorator is typed to return Any, as in the services.)
"""A service made with kit, served as GraphQL over HTTP recommends, with its statement timeout.

The service here is a probe of two fields, built with the same ``create_app`` as the real
subgraphs: the status codes, media types and ``data`` entries below are the ones every
subgraph answers with. The expected values are the specification's (``pcse_kit.over_http``
quotes the sections), not computed by the code under test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import strawberry
from pcse_kit.auth import Role
from pcse_kit.errors import BadUserInput
from pcse_kit.graphql import GraphQLFirst, RequestContext, create_schema
from pcse_kit.over_http import JSON, Outcome, negotiate
from pcse_kit.service import ServiceDefinition, create_app
from pcse_kit.settings import ServiceSettings
from pcse_kit.testing import TEST_AUDIENCE, TEST_ISSUER, client_for
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import httpx
    from fastapi import FastAPI
    from pcse_kit.postgres import EmbeddedPostgres
    from pcse_kit.testing import Token
    from starlette.types import Message, Receive, Scope, Send

GRAPHQL_RESPONSE = "application/graphql-response+json"


@strawberry.type(description="Probe queries.")
class Query:
    @strawberry.field(description="Always answers.")
    def hello(self) -> str:
        return "hello"

    @strawberry.field(description="Refuses, as a resolver does on bad input; nullable.")
    def refused(self) -> str | None:
        raise BadUserInput("No.", field="value")


@strawberry.type(description="Probe mutations.")
class Mutation:
    @strawberry.mutation(description="Refuses; its type is non-null, so data becomes null.")
    def change(self) -> str:
        raise BadUserInput("No.", field="value")


@pytest.fixture(scope="module")
async def app(
    postgres: EmbeddedPostgres, public_key_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FastAPI]:
    settings = ServiceSettings(
        database_url=postgres.dsn(),
        auth_public_key_file=public_key_file,
        auth_issuer=TEST_ISSUER,
        auth_audience=TEST_AUDIENCE,
        migrate_on_start=False,
        db_statement_timeout_seconds=0.25,
    )
    service = ServiceDefinition(
        name="probe",
        service_dir=tmp_path_factory.mktemp("probe"),
        settings_factory=lambda: settings,
        schema=create_schema(query=Query, mutation=Mutation),
        context_factory=RequestContext,
    )
    application = create_app(service, settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def http(app: FastAPI, token: Token) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        client.headers["authorization"] = f"Bearer {token(Role.ADMIN)}"
        yield client


# (body, status with application/json, status with graphql-response+json, data present)
CASES: dict[str, tuple[Any, int, int, bool]] = {
    "executed": ({"query": "{ hello }"}, 200, 200, True),
    "field error, partial data": ({"query": "{ hello refused }"}, 200, 200, True),
    "non-null mutation refused: data null": ({"query": "mutation { change }"}, 200, 200, True),
    "document does not parse": ({"query": "{ hello"}, 200, 400, False),
    "document does not validate": ({"query": "{ nosuch }"}, 200, 400, False),
    "variable fails coercion": (
        {"query": "query ($n: Int!) { hello }", "variables": {"n": "x"}},
        200,
        400,
        False,
    ),
    "variable missing": ({"query": "query ($n: Int!) { hello }"}, 200, 400, False),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE, None])
async def test_status_media_type_and_data_follow_graphql_over_http(
    http: httpx.AsyncClient, case: str, accept: str | None
) -> None:
    body, json_status, graphql_response_status, has_data = CASES[case]
    headers = {"accept": accept} if accept else {}
    if accept is None:
        # httpx sends Accept: */* unless told not to; the point here is no header at all.
        http.headers.pop("accept", None)
    response = await http.post("/graphql", json=body, headers=headers)

    # No Accept at all is answered as graphql-response+json, the rule since 2025-01-01.
    media_type = JSON if accept == JSON else GRAPHQL_RESPONSE
    assert response.headers["content-type"] == f"{media_type}; charset=utf-8"
    assert response.status_code == (json_status if accept == JSON else graphql_response_status)
    answer = response.json()
    assert ("data" in answer) is has_data
    assert answer.get("errors") or case == "executed"
    if case == "non-null mutation refused: data null":
        assert answer["data"] is None
        assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    if case == "field error, partial data":
        assert answer["data"] == {"hello": "hello", "refused": None}


async def test_star_accept_gets_json_and_an_unacceptable_accept_gets_406(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post("/graphql", json={"query": "{ hello }"})  # httpx: Accept */*
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    refused = await http.post(
        "/graphql", json={"query": "{ hello }"}, headers={"accept": "text/html"}
    )
    assert refused.status_code == 406


async def test_a_body_that_is_not_json_is_400_and_a_mutation_by_get_is_405(
    http: httpx.AsyncClient,
) -> None:
    garbled = await http.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert garbled.status_code == 400
    by_get = await http.get("/graphql", params={"query": "mutation { change }"})
    assert by_get.status_code == 405


async def test_the_caller_is_verified_before_the_request_is_read_and_other_methods_are_405(
    app: FastAPI,
) -> None:
    """``/graphql`` is served ahead of FastAPI's routing (``GraphQLFirst``): a missing or bad
    token is still refused with 401 and a challenge before the body is looked at, even a
    body that is not JSON, and a method other than GET and POST still gets FastAPI's 405."""
    async with client_for(app) as client:
        for headers in ({}, {"authorization": "Bearer not-a-token"}):
            refused = await client.post(
                "/graphql",
                content=b"{not json",
                headers={**headers, "content-type": "application/json"},
            )
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Bearer"
            assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert (await client.get("/graphql", params={"query": "{ hello }"})).status_code == 401
        for method in ("PUT", "DELETE", "PATCH"):
            other = await client.request(method, "/graphql", json={"query": "{ hello }"})
            assert other.status_code == 405
        assert (await client.get("/healthz")).json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, GRAPHQL_RESPONSE),
        ("", GRAPHQL_RESPONSE),
        ("*/*", JSON),
        ("application/*", JSON),
        ("application/json", JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        # What the gateway and most clients send: the first listed wins at equal quality.
        (f"{GRAPHQL_RESPONSE}; charset=utf-8, application/json; charset=utf-8", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", JSON),
        (f"application/json;q=0.5, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0, application/json", JSON),
        ("text/html", None),
        ("application/json;q=0", None),
    ],
)
def test_negotiation(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept) == expected


def test_outcome_names() -> None:
    # The three outcomes the status table distinguishes.
    assert {outcome.value for outcome in Outcome} == {"executed", "request error", "failed"}


async def test_every_connection_of_the_service_has_its_statement_timeout(app: FastAPI) -> None:
    engine = app.state.engine
    # Two connections at once, so the second is a new one, not the first from the pool.
    async with engine.connect() as first, engine.connect() as second:
        for connection in (first, second):
            assert await connection.scalar(text("SHOW statement_timeout")) == "250ms"
        with pytest.raises(DBAPIError, match="canceling statement due to statement timeout"):
            await first.execute(text("SELECT pg_sleep(2)"))


async def test_other_methods_on_graphql_are_405_with_the_methods_allowed(
    http: httpx.AsyncClient,
) -> None:
    """Only GET and POST reach GraphQL; any other method (HEAD included) is refused unrun, with
    ``Allow`` naming the two (RFC 9110, 15.5.6)."""
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"):
        other = await http.request(method, "/graphql", json={"query": "{ hello }"})
        assert other.status_code == 405, method
        assert other.headers["allow"] == "GET, POST", method
        assert other.json() == {"detail": "Method Not Allowed"}, method
    assert (await http.head("/graphql")).status_code == 405


async def test_a_websocket_upgrade_on_graphql_is_refused_and_other_paths_go_on() -> None:
    """No subscriptions are served: a websocket handshake on ``/graphql`` is closed before it
    is accepted (the server answers 403), and it reaches neither GraphQL nor the app."""
    reached: list[str] = []

    async def inner(scope: Scope, _receive: Receive, _send: Send) -> None:
        reached.append(scope["path"])

    first = GraphQLFirst(inner, graphql=inner)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await first({"type": "websocket", "path": "/graphql"}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1000, "reason": ""}]
    assert reached == []
    await first({"type": "websocket", "path": "/elsewhere"}, receive, send)
    assert reached == ["/elsewhere"]
