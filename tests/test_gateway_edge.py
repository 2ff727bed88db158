"""The gateway's edge: tokens, operation limits, body size, rate limit, persisted operations,
introspection and CORS, against real gateway processes.

Three gateways take part. The stack's own (default settings, real subgraphs); a *spy* gateway
whose subgraphs are all one recording stub, to prove that refused requests never reach a
subgraph (it also runs with the production defaults and introspection off); and a *strict*
gateway on the real subgraphs that runs persisted operations only, allows one CORS origin and
rate-limits every caller to a few requests.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final

import httpx
import pytest
from pcse_kit.auth import PRODUCTION_AUDIENCE, PRODUCTION_ISSUER, SigningKey
from pcse_kit.processes import die_with_parent

from stack import ROOT, SERVICES, TOKEN_AUDIENCE, TOKEN_ISSUER, Stack, free_port

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

MANIFEST = ROOT / "gateway" / "persisted-operations.json"
ALLOWED_ORIGIN: Final = "https://app.example.org"
STRICT_RATE_LIMIT: Final = 5
GRAPHQL_RESPONSE: Final = "application/graphql-response+json"
READY_TIMEOUT_SECONDS: Final = 60.0  # a gateway starts in 2-3 s, but far slower on a busy machine

# Defaults documented in gateway/README.md; the stack's gateway and the spy run with them.
MAX_ALIASES: Final = 15
MAX_TOKENS: Final = 2000
MAX_BODY_BYTES: Final = 64 * 1024

STUB_PRACTICE: Final = {"data": {"practice": {"name": "Stub practice"}}}


class Provider:
    """The spy gateway's identity provider. The spy runs as production does, and production
    never trusts the development key: it trusts this key (a file it is explicitly allowed)
    and expects the production issuer and audience."""

    issuer: Final = PRODUCTION_ISSUER
    audience: Final = PRODUCTION_AUDIENCE

    def __init__(self, key_file: Path) -> None:
        self.signing_key = SigningKey.generate()
        self.key_file = key_file
        key_file.write_bytes(self.signing_key.public_pem)

    def token(
        self,
        role: str,
        scope: list[str] | tuple[str, ...] = (),
        *,
        subject: str | None = None,
        ttl_seconds: int = 3600,
    ) -> str:
        return self.signing_key.sign(
            subject=subject or f"idp-{role}",
            role=role,
            scope=scope,
            issuer=self.issuer,
            audience=self.audience,
            ttl_seconds=ttl_seconds,
        )


class SubgraphStub:
    """One HTTP server standing in for every subgraph: it records what it is sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str | None, dict[str, Any]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                stub.requests.append((self.headers.get("authorization"), body))
                payload = json.dumps(STUB_PRACTICE).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/graphql"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SubgraphStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Gateway:
    """A gateway process of its own, configured by ``env``, stopped by its PID."""

    def __init__(self, stack: Stack, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/graphql"
        self.log_path = log_path
        base = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        self.env = {
            **base,
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(self.port),
            "GATEWAY_METRICS_PORT": "0",  # any free port: two of these run at once
            "GATEWAY_AUTH_PUBLIC_KEY_FILE": str(stack.config.keys_dir / "public.pem"),
            "GATEWAY_AUTH_ISSUER": TOKEN_ISSUER,
            "GATEWAY_AUTH_AUDIENCE": TOKEN_AUDIENCE,
            **{f"GATEWAY_SUBGRAPH_URL_{s.upper()}": stack.service_url(s) for s in SERVICES},
            **env,
        }

    def start(self) -> None:
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            ["node", str(ROOT / "gateway" / "server.mjs")],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(signal.SIGTERM),  # noqa: PLW1509 - no locks taken
        )

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        ready = self.url.removesuffix("/graphql") + "/readyz"
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log_path.read_text()}")
            try:
                if httpx.get(ready, timeout=1).status_code == httpx.codes.OK:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gateway not ready: {self.log_path.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


@dataclass(frozen=True)
class Gateways:
    spy: Gateway
    strict: Gateway


@pytest.fixture(scope="module")
def stub() -> Iterator[SubgraphStub]:
    with SubgraphStub() as running:
        yield running


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Provider:
    return Provider(tmp_path_factory.mktemp("idp") / "public.pem")


@pytest.fixture(scope="module")
def gateways(
    stack: Stack, stub: SubgraphStub, idp: Provider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateways]:
    """Both extra gateways, started together because most of their start-up is waiting."""
    spy_env = {f"GATEWAY_SUBGRAPH_URL_{s.upper()}": stub.url for s in SERVICES}
    spy_env |= {"GATEWAY_ENVIRONMENT": "production", "GATEWAY_INTROSPECTION": "0"}
    spy_env |= {
        "GATEWAY_AUTH_PUBLIC_KEY_FILE": str(idp.key_file),
        "GATEWAY_AUTH_ALLOW_KEY_FILE": "1",
        "GATEWAY_AUTH_ISSUER": idp.issuer,
        "GATEWAY_AUTH_AUDIENCE": idp.audience,
    }
    strict_env = {
        "GATEWAY_PERSISTED_OPERATIONS": str(MANIFEST),
        "GATEWAY_PERSISTED_ONLY": "1",
        "GATEWAY_CORS_ORIGINS": ALLOWED_ORIGIN,
        "GATEWAY_RATE_LIMIT": str(STRICT_RATE_LIMIT),
        "GATEWAY_RATE_WINDOW_SECONDS": "60",
    }
    logs = tmp_path_factory.mktemp("gateways")
    started = Gateways(
        spy=Gateway(stack, spy_env, logs / "spy.log"),
        strict=Gateway(stack, strict_env, logs / "strict.log"),
    )
    with ExitStack() as running:
        for gateway in (started.spy, started.strict):
            gateway.start()
            running.callback(gateway.stop)
        for gateway in (started.spy, started.strict):
            gateway.wait_until_ready()
        yield started


@pytest.fixture(scope="module")
def spy_gateway(gateways: Gateways) -> Gateway:
    """Every subgraph is the stub; production defaults, introspection off."""
    return gateways.spy


@pytest.fixture(scope="module")
def strict_gateway(gateways: Gateways) -> Gateway:
    """Real subgraphs; persisted operations only, one CORS origin, a low rate limit."""
    return gateways.strict


@pytest.fixture
def spy(spy_gateway: Gateway, stub: SubgraphStub) -> Iterator[httpx.Client]:
    """A client of the spy gateway with no token; the stub's record starts empty."""
    stub.requests.clear()
    with httpx.Client(base_url=spy_gateway.url.removesuffix("/graphql"), timeout=10) as client:
        yield client


@pytest.fixture
def strict(
    strict_gateway: Gateway, stack: Stack, request: pytest.FixtureRequest
) -> Iterator[httpx.Client]:
    """An admin's client of the strict gateway, with a subject of its own so that each test
    has its own rate-limit budget."""
    token = stack.token("admin", subject=f"edge-{request.node.name}")
    with httpx.Client(
        base_url=strict_gateway.url.removesuffix("/graphql"),
        timeout=10,
        headers={"authorization": f"Bearer {token}"},
    ) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def codes(response: httpx.Response) -> list[str]:
    return [error["extensions"]["code"] for error in response.json()["errors"]]


@pytest.fixture(scope="module")
def demo_hash() -> str:
    """The manifest's hash of demo/practice-status.graphql, the manifest checked up to date."""
    check = subprocess.run(
        ["node", "gateway/persisted.mjs", "--check", str(MANIFEST), "demo/practice-status.graphql"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    manifest: dict[str, str] = json.loads(MANIFEST.read_text())
    [digest] = [h for h, doc in manifest.items() if doc.startswith("query PracticeStatus(")]
    assert hashlib.sha256(manifest[digest].encode()).hexdigest() == digest
    return digest


# --- tokens ----------------------------------------------------------------------------------

VALID_QUERY: Final = '{ practice(odsCode: "A81001") { name } }'


def test_a_valid_token_reaches_the_subgraph_with_the_callers_authorization(
    spy: httpx.Client, stub: SubgraphStub, idp: Provider
) -> None:
    token = idp.token("practice", ["A81001"])
    response = spy.post("/graphql", json={"query": VALID_QUERY}, headers=bearer(token))

    assert response.status_code == httpx.codes.OK
    assert response.json() == STUB_PRACTICE
    assert [authorization for authorization, _ in stub.requests] == [f"Bearer {token}"]


def _other_audience(idp: Provider) -> str:
    return idp.signing_key.sign(
        subject="x", role="admin", issuer=idp.issuer, audience="another-api"
    )


def _other_issuer(idp: Provider) -> str:
    return idp.signing_key.sign(
        subject="x", role="admin", issuer="someone-else", audience=idp.audience
    )


def _other_key(idp: Provider) -> str:
    return SigningKey.generate().sign(
        subject="x", role="admin", issuer=idp.issuer, audience=idp.audience
    )


def _unknown_role(idp: Provider) -> str:
    return idp.signing_key.sign(
        subject="x", role="superuser", issuer=idp.issuer, audience=idp.audience
    )


def _development(stack: Stack) -> str:
    """A token make up's development key signs: production refuses it, issuer and key."""
    return stack.token("admin")


BAD_CREDENTIALS: Final[dict[str, Callable[[Provider, Stack], dict[str, str]]]] = {
    "no header": lambda _, __: {},
    "not bearer": lambda idp, _: {"authorization": f"Basic {idp.token('admin')}"},
    "garbage": lambda _, __: bearer("not-a-jwt"),
    "garbage jwt": lambda _, __: bearer("eyJhbGciOiJFZERTQSJ9.e30.c2lnbmF0dXJl"),
    # Past the 30 s leeway.
    "expired": lambda idp, _: bearer(idp.token("admin", ttl_seconds=-120)),
    "wrong signature": lambda idp, _: bearer(_other_key(idp)),
    "wrong audience": lambda idp, _: bearer(_other_audience(idp)),
    "wrong issuer": lambda idp, _: bearer(_other_issuer(idp)),
    "unknown role": lambda idp, _: bearer(_unknown_role(idp)),
    "the development key": lambda _, stack: bearer(_development(stack)),
}


@pytest.mark.parametrize("case", BAD_CREDENTIALS)
def test_bad_credentials_are_refused_before_any_subgraph(
    spy: httpx.Client, stub: SubgraphStub, idp: Provider, stack: Stack, case: str
) -> None:
    headers = BAD_CREDENTIALS[case](idp, stack)
    response = spy.post("/graphql", json={"query": VALID_QUERY}, headers=headers)

    assert response.status_code == httpx.codes.UNAUTHORIZED
    assert response.headers["www-authenticate"] == "Bearer"
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "UNAUTHENTICATED"}
    assert error["message"]
    assert stub.requests == []


def test_an_expired_token_is_told_so(spy: httpx.Client, idp: Provider) -> None:
    response = spy.post(
        "/graphql",
        json={"query": VALID_QUERY},
        headers=bearer(idp.token("admin", ttl_seconds=-120)),
    )
    assert response.json()["errors"][0]["message"] == "The token has expired."


def test_expiry_has_thirty_seconds_of_leeway(
    spy: httpx.Client, stub: SubgraphStub, idp: Provider
) -> None:
    token = idp.token("admin", ttl_seconds=-10)
    response = spy.post("/graphql", json={"query": VALID_QUERY}, headers=bearer(token))
    assert response.json() == STUB_PRACTICE
    assert len(stub.requests) == 1


def test_the_gateway_will_not_start_without_a_way_to_check_tokens() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    result = subprocess.run(
        ["node", str(ROOT / "gateway" / "server.mjs")],
        env={**env, "GATEWAY_PORT": "0"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "GATEWAY_AUTH_PUBLIC_KEY_FILE" in result.stderr
    assert "GATEWAY_AUTH_JWKS_URL" in result.stderr


def test_get_requests_need_a_token_too(spy: httpx.Client, stub: SubgraphStub) -> None:
    response = spy.get("/graphql", params={"query": VALID_QUERY})
    assert response.status_code == httpx.codes.UNAUTHORIZED
    assert stub.requests == []


def test_probes_need_no_token(spy: httpx.Client) -> None:
    assert spy.get("/healthz").status_code == httpx.codes.OK
    assert spy.get("/readyz").status_code == httpx.codes.OK


# --- operation limits (default values) -------------------------------------------------------


# 100 practices x 10 performers x 10 memberships: far over the default cost limit of 5000.
COSTLY: Final = (
    "{ practices(first: 100) { nodes { performers { memberships { practice { name } } } } } }"
)
# At the default depth limit of 10 (practice > lmc > practices > nodes > lmc > practices > nodes >
# performers > memberships > role), one item per page, so that depth is all that is large.
DEPTH_10: Final = (
    '{ practice(odsCode: "A81001") { lmc { practices(first: 1) { nodes { lmc { '
    "practices(first: 1) { nodes { performers { memberships { role } } } } } } } } } }"
)
DEPTH_11: Final = DEPTH_10.replace("{ role }", "{ practice { name } }")


TOO_MANY_ALIASES: Final = (
    "{ " + " ".join(f"a{i}: __typename" for i in range(MAX_ALIASES + 1)) + " }"
)
# Braces and names are one token each.
TOO_MANY_TOKENS: Final = "{ " + "__typename " * (MAX_TOKENS - 1) + "}"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        pytest.param(DEPTH_11, "QUERY_TOO_DEEP", id="depth"),
        pytest.param(TOO_MANY_ALIASES, "TOO_MANY_ALIASES", id="aliases"),
        pytest.param(COSTLY, "QUERY_TOO_COMPLEX", id="cost"),
        pytest.param(TOO_MANY_TOKENS, "QUERY_TOO_LARGE", id="tokens"),
    ],
)
def test_an_operation_over_a_limit_is_refused_before_any_subgraph(
    spy: httpx.Client, stub: SubgraphStub, idp: Provider, query: str, code: str
) -> None:
    headers = bearer(idp.token("admin"))
    response = spy.post("/graphql", json={"query": query}, headers=headers)
    # Like a validation error: 200 for application/json, 400 for the GraphQL media type.
    strict_media = spy.post(
        "/graphql", json={"query": query}, headers={**headers, "accept": GRAPHQL_RESPONSE}
    )

    assert response.status_code == httpx.codes.OK
    assert codes(response) == [code]
    assert "data" not in response.json()
    assert strict_media.status_code == httpx.codes.BAD_REQUEST
    assert codes(strict_media) == [code]
    assert stub.requests == []


# Fifteen aliases (the limit) of a search that reads the whole performers list.
ALIASED_SEARCHES: Final = (
    "{ "
    + " ".join(
        f'a{i}: searchPerformers(text: "an", first: 100) {{ nodes {{ gmcNumber name }} }}'
        for i in range(MAX_ALIASES)
    )
    + " }"
)


def test_an_aliased_expensive_field_is_priced_for_what_it_does(
    spy: httpx.Client, stub: SubgraphStub, idp: Provider
) -> None:
    """The finding: every field cost 1, so fifteen aliases of a field that scans a whole table
    were priced as fifteen keyed reads (15 x (1 + 100 x 3) = 4515, under the limit). The
    subgraph declares @cost(weight: 100) on it; the estimate is now 15 x (100 + 100 x 3)."""
    response = spy.post(
        "/graphql", json={"query": ALIASED_SEARCHES}, headers=bearer(idp.token("admin"))
    )
    assert codes(response) == ["QUERY_TOO_COMPLEX"]
    assert response.json()["errors"][0]["extensions"]["cost"] == {"estimated": 6000, "limit": 5000}
    assert stub.requests == []


def test_an_lmc_areas_findings_are_priced_as_a_long_list(
    spy: httpx.Client, stub: SubgraphStub, idp: Provider
) -> None:
    """A plain list was assumed to hold ten items whatever it was: an LMC area's findings
    (declared as fifty, each worked out over the whole area) under five aliases were priced
    1 + 5 x (1 + 10 x 22) = 1106. Now they cost what they do, over the limit."""
    findings = "findings { kind evidence { label value } }"
    query = '{ lmc(code: "kernow") { ' + " ".join(f"a{i}: {findings}" for i in range(5)) + " } }"
    response = spy.post("/graphql", json={"query": query}, headers=bearer(idp.token("admin")))
    # lmc 1 + 5 x (findings 20 + 50 x (kind 1 + evidence (1 + 10 x 2)))
    estimated = 1 + 5 * (20 + 50 * (1 + 1 + 10 * 2))
    assert codes(response) == ["QUERY_TOO_COMPLEX"]
    assert response.json()["errors"][0]["extensions"]["cost"]["estimated"] == estimated
    assert stub.requests == []


def test_operations_at_the_limits_are_accepted(spy: httpx.Client, idp: Provider) -> None:
    aliases = "{ " + " ".join(f"a{i}: __typename" for i in range(MAX_ALIASES)) + " }"
    # Five tokens an operation: query, its name, {, __typename and }. (One field repeated 2000
    # times would trip graphql-js's own guard against overlapping fields instead.)
    tokens = " ".join(f"query Q{i} {{ __typename }}" for i in range(MAX_TOKENS // 5))
    payloads = [{"query": aliases}, {"query": tokens, "operationName": "Q0"}]

    for payload in payloads:
        response = spy.post("/graphql", json=payload, headers=bearer(idp.token("admin")))
        body = response.json()
        assert "errors" not in body
        assert set(body["data"].values()) == {"Query"}


def test_the_page_size_in_a_variable_counts_towards_the_cost(gateway: httpx.Client) -> None:
    query = """
    query ($n: Int) {
      practices(first: $n) { nodes { performers { memberships { practice { name } } } } }
    }
    """
    small = gateway.post("/graphql", json={"query": query, "variables": {"n": 2}}).json()
    large = gateway.post("/graphql", json={"query": query, "variables": {"n": 100}}).json()

    assert "errors" not in small
    assert len(small["data"]["practices"]["nodes"]) == 2
    assert [e["extensions"]["code"] for e in large["errors"]] == ["QUERY_TOO_COMPLEX"]
    assert large["errors"][0]["extensions"]["cost"]["limit"] == 5000


def test_a_depth_at_the_limit_runs_on_the_real_subgraphs(gateway: httpx.Client) -> None:
    body = gateway.post("/graphql", json={"query": DEPTH_10}).json()
    assert "errors" not in body
    assert body["data"]["practice"]["lmc"]["practices"]["nodes"]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_is_413(
    spy: httpx.Client, stub: SubgraphStub, idp: Provider, *, chunked: bool
) -> None:
    padding = "x" * MAX_BODY_BYTES
    raw = json.dumps({"query": VALID_QUERY, "variables": {"padding": padding}}).encode()
    content: bytes | Iterator[bytes] = iter([raw[:1000], raw[1000:]]) if chunked else raw
    response = spy.post(
        "/graphql",
        content=content,
        headers={**bearer(idp.token("admin")), "content-type": "application/json"},
    )

    assert response.status_code == httpx.codes.REQUEST_ENTITY_TOO_LARGE
    assert codes(response) == ["REQUEST_ENTITY_TOO_LARGE"]
    assert stub.requests == []


def test_a_small_chunked_body_is_read(spy: httpx.Client, idp: Provider) -> None:
    raw = json.dumps({"query": "{ __typename }"}).encode()
    response = spy.post(
        "/graphql",
        content=iter([raw[:5], raw[5:]]),
        headers={**bearer(idp.token("admin")), "content-type": "application/json"},
    )
    assert response.json() == {"data": {"__typename": "Query"}}


# --- production settings: introspection, suggestions -----------------------------------------


def test_introspection_is_refused_when_off(
    spy: httpx.Client, stub: SubgraphStub, idp: Provider
) -> None:
    headers = bearer(idp.token("admin"))
    for query in ("{ __schema { types { name } } }", '{ __type(name: "Practice") { name } }'):
        body = spy.post("/graphql", json={"query": query}, headers=headers).json()
        assert "data" not in body
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert "introspection" in body["errors"][0]["message"]
    assert stub.requests == []


def test_introspection_is_on_in_development(gateway: httpx.Client) -> None:
    body = gateway.post("/graphql", json={"query": "{ __schema { queryType { name } } }"}).json()
    assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


def test_production_gives_no_field_suggestions(
    spy: httpx.Client, gateway: httpx.Client, idp: Provider
) -> None:
    query = '{ practice(odsCode: "A81001") { nme } }'
    production = spy.post("/graphql", json={"query": query}, headers=bearer(idp.token("admin")))
    development = gateway.post("/graphql", json={"query": query})

    [error] = production.json()["errors"]
    assert error["message"] == 'Cannot query field "nme" on type "Practice".'
    assert "Did you mean" in development.json()["errors"][0]["message"]


# --- persisted operations --------------------------------------------------------------------


def test_allow_list_mode_refuses_an_arbitrary_document(strict: httpx.Client) -> None:
    body = strict.post("/graphql", json={"query": "{ __typename }"}).json()
    assert "data" not in body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["PERSISTED_QUERY_ID_REQUIRED"]


def test_allow_list_mode_runs_the_persisted_demo_query(
    strict: httpx.Client, demo_hash: str
) -> None:
    variables = {"ods": "A81001"}
    apollo = {"persistedQuery": {"version": 1, "sha256Hash": demo_hash}}
    by_extension = strict.post("/graphql", json={"extensions": apollo, "variables": variables})
    by_document_id = strict.post("/graphql", json={"documentId": demo_hash, "variables": variables})

    for response in (by_extension, by_document_id):
        assert response.status_code == httpx.codes.OK
        body = response.json()
        assert "errors" not in body
        assert body["data"]["practice"]["odsCode"] == "A81001"
        assert body["data"]["practice"]["payments"]["statements"]["nodes"]


def test_allow_list_mode_refuses_an_unknown_hash(strict: httpx.Client) -> None:
    unknown = hashlib.sha256(b"{ __typename }").hexdigest()
    body = strict.post(
        "/graphql", json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": unknown}}}
    ).json()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["PERSISTED_QUERY_NOT_IN_LIST"]


# --- rate limit ------------------------------------------------------------------------------


def test_a_caller_over_the_rate_limit_gets_429(
    strict_gateway: Gateway, stack: Stack, demo_hash: str
) -> None:
    payload = {"documentId": demo_hash, "variables": {"ods": "A81001"}}
    limited = bearer(stack.token("practice", ["A81001"], subject="rate-limited"))
    other = bearer(stack.token("practice", ["A81001"], subject="someone-else"))
    with httpx.Client(timeout=10) as client:
        allowed = [
            client.post(strict_gateway.url, json=payload, headers=limited).status_code
            for _ in range(STRICT_RATE_LIMIT)
        ]
        refused = client.post(strict_gateway.url, json=payload, headers=limited)
        unaffected = client.post(strict_gateway.url, json=payload, headers=other)

    assert allowed == [httpx.codes.OK] * STRICT_RATE_LIMIT
    assert refused.status_code == httpx.codes.TOO_MANY_REQUESTS
    assert codes(refused) == ["RATE_LIMITED"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert unaffected.status_code == httpx.codes.OK


# --- CORS ------------------------------------------------------------------------------------


def test_cors_headers_only_for_the_named_origin(strict: httpx.Client, demo_hash: str) -> None:
    payload = {"documentId": demo_hash, "variables": {"ods": "A81001"}}
    named = strict.post("/graphql", json=payload, headers={"origin": ALLOWED_ORIGIN})
    other = strict.post("/graphql", json=payload, headers={"origin": "https://elsewhere.example"})

    assert named.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "access-control-allow-credentials" not in named.headers
    assert "access-control-allow-origin" not in other.headers
    assert other.status_code == named.status_code == httpx.codes.OK


def test_a_preflight_from_the_named_origin_allows_the_authorization_header(
    strict_gateway: Gateway,
) -> None:
    def preflight(origin: str) -> httpx.Response:
        return httpx.options(
            strict_gateway.url,
            headers={
                "origin": origin,
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )

    named, other = preflight(ALLOWED_ORIGIN), preflight("https://elsewhere.example")

    assert named.status_code == httpx.codes.NO_CONTENT
    assert named.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "authorization" in named.headers["access-control-allow-headers"].lower()
    assert not [h for h in other.headers if h.startswith("access-control-")]


def test_no_cors_headers_without_configured_origins(gateway: httpx.Client) -> None:
    response = gateway.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"origin": ALLOWED_ORIGIN}
    )
    assert response.status_code == httpx.codes.OK
    assert not [h for h in response.headers if h.startswith("access-control-")]
