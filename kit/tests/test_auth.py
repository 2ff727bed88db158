"""Token verification: malformed tokens, the JWKS cache, claims from standard providers, and the
settings production refuses."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pcse_kit.auth import (
    DEVELOPMENT_ISSUER,
    AuthUnavailable,
    ClaimsMapping,
    JwksCache,
    Principal,
    Role,
    SigningKey,
    TokenVerifier,
    Unauthenticated,
    parse_clients,
    principal_from_claims,
)
from pcse_kit.settings import ServiceSettings
from pcse_kit.testing import malformed_tokens, reheader
from pydantic import ValidationError

if TYPE_CHECKING:
    from collections.abc import Iterator

CASES = json.loads((Path(__file__).parent / "data" / "claims-cases.json").read_text())
ISSUER, AUDIENCE = "pcse-status", "pcse-status"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": "u1",
        "role": "admin",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
        **extra,
    }


def pem_verifier(key: SigningKey) -> TokenVerifier:
    public = serialization.load_pem_public_key(key.public_pem)
    return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, public_keys=[public])


# --- malformed tokens ------------------------------------------------------------------------


_KEY = SigningKey.generate()


@pytest.mark.parametrize("case", list(malformed_tokens(_KEY, claims())))
async def test_every_malformed_token_is_unauthenticated(case: str) -> None:
    token = malformed_tokens(_KEY, claims())[case]
    with pytest.raises(Unauthenticated):
        await pem_verifier(_KEY).verify(f"Bearer {token}")


async def test_a_well_formed_token_passes() -> None:
    principal = await pem_verifier(_KEY).verify(f"Bearer {_KEY.sign_claims(claims())}")
    assert principal == Principal(subject="u1", role=Role.ADMIN)


async def test_the_right_key_type_is_found_among_several() -> None:
    """An EC key and an Ed25519 key side by side: each token is checked with its own type."""
    ec_private = ec.generate_private_key(ec.SECP256R1())
    verifier = TokenVerifier(
        issuer=ISSUER,
        audience=AUDIENCE,
        public_keys=[
            serialization.load_pem_public_key(_KEY.public_pem),
            ec_private.public_key(),
        ],
    )
    es256 = jwt.encode(claims(sub="ec"), ec_private, algorithm="ES256")
    eddsa = _KEY.sign_claims(claims(sub="ed"))
    assert (await verifier.verify(f"Bearer {es256}")).subject == "ec"
    assert (await verifier.verify(f"Bearer {eddsa}")).subject == "ed"


# --- the JWKS cache --------------------------------------------------------------------------


def _jwk(private: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


class JwksServer:
    """An identity provider's JWKS endpoint on a local port; the test changes its keys."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        self.failing = False
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.fetches += 1
                if owner.failing:
                    self.send_response(503)
                    self.end_headers()
                    return
                body = json.dumps({"keys": owner.keys}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    yield server
    server.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rs256(private: rsa.RSAPrivateKey, kid: str, **extra: Any) -> str:
    return jwt.encode(claims(**extra), private, algorithm="RS256", headers={"kid": kid})


async def test_a_key_withdrawn_from_the_jwks_stops_being_trusted(
    jwks_server: JwksServer,
) -> None:
    """The finding: the subgraphs cached keys with no expiry, so a withdrawn key was trusted
    until the service restarted."""
    old = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks_server.keys = [_jwk(old, "old")]
    clock = Clock()
    cache = JwksCache(jwks_server.url, max_age=600, cooldown=30, clock=clock)
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=cache)
    token = rs256(old, "old")

    assert (await verifier.verify(f"Bearer {token}")).subject == "u1"
    jwks_server.keys = []  # withdrawn
    clock.now += 599
    assert (await verifier.verify(f"Bearer {token}")).subject == "u1"  # within the cache's age
    clock.now += 1
    with pytest.raises((Unauthenticated, AuthUnavailable)):
        await verifier.verify(f"Bearer {token}")


async def test_an_unknown_key_id_fetches_the_set_again_at_most_every_cooldown(
    jwks_server: JwksServer,
) -> None:
    old = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    new = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks_server.keys = [_jwk(old, "old")]
    clock = Clock()
    cache = JwksCache(jwks_server.url, max_age=600, cooldown=30, clock=clock)
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=cache)
    await verifier.verify(f"Bearer {rs256(old, 'old')}")
    assert jwks_server.fetches == 1

    # A rotation: the provider publishes the new key, and its first token fetches the set.
    jwks_server.keys = [_jwk(old, "old"), _jwk(new, "new")]
    clock.now += 31
    assert (await verifier.verify(f"Bearer {rs256(new, 'new', sub='n')}")).subject == "n"
    assert jwks_server.fetches == 2

    # Made-up key ids within the cooldown cost no fetch.
    for kid in ("x1", "x2", "x3"):
        with pytest.raises(Unauthenticated):
            await verifier.verify(f"Bearer {rs256(new, kid)}")
    assert jwks_server.fetches == 2


async def test_an_unreachable_jwks_is_unavailable_not_unauthenticated(
    jwks_server: JwksServer,
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks_server.failing = True
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_server.url)
    with pytest.raises(AuthUnavailable):
        await verifier.verify(f"Bearer {rs256(key, 'k')}")


async def test_a_jwks_key_of_another_type_than_the_tokens_alg_is_not_tried(
    jwks_server: JwksServer,
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks_server.keys = [_jwk(key, "k")]
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_server.url)
    forged = reheader(rs256(key, "k"), {"alg": "ES256", "kid": "k"})
    with pytest.raises(Unauthenticated):
        await verifier.verify(f"Bearer {forged}")


# --- claims ----------------------------------------------------------------------------------


def mapping_for(case: dict[str, Any]) -> ClaimsMapping:
    options = case.get("mapping", {})
    return ClaimsMapping(
        role_claim=options.get("roleClaim", "role"),
        scope_claim=options.get("scopeClaim", "scope"),
        **(
            {"cis2_practice_role_codes": frozenset(options["cis2PracticeRoles"].split(","))}
            if "cis2PracticeRoles" in options
            else {}
        ),
        clients=parse_clients({"clients": CASES["clients"]}),
    )


@pytest.mark.parametrize("case", CASES["cases"], ids=[c["name"] for c in CASES["cases"]])
def test_claims_become_a_caller_as_documented(case: dict[str, Any]) -> None:
    mapping = mapping_for(case)
    expected = case["expect"]
    if expected is None:
        with pytest.raises(Unauthenticated):
            principal_from_claims(case["claims"], mapping)
        return
    principal = principal_from_claims(case["claims"], mapping)
    assert principal == Principal(
        subject=expected["subject"],
        role=Role(expected["role"]),
        scope=frozenset(expected["scope"]),
    )


@pytest.mark.parametrize(
    "document",
    [
        {"clients": {"x": {"role": "admin"}}},
        {"clients": {"x": {"role": "boss"}}},
        {"clients": {"x": {"role": "lmc", "scope": "kernow"}}},
        {"clients": {"x": {"role": "lmc", "subject": ""}}},
        {"clients": []},
        [],
    ],
)
def test_a_clients_table_that_could_be_misread_is_refused(document: Any) -> None:
    with pytest.raises(ValueError, match="client"):
        parse_clients(document)


# --- settings --------------------------------------------------------------------------------


def settings(**values: Any) -> ServiceSettings:
    return ServiceSettings(database_url="postgresql://x/y", **values)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    """(a development key made as make up makes it, an operator's own key file)."""
    dev = tmp_path / "dev-keys"
    SigningKey.load_or_create(dev)
    own = tmp_path / "own.pem"
    own.write_bytes(SigningKey.generate().public_pem)
    return dev / "public.pem", own


def test_development_and_production_expect_different_issuers_and_audiences() -> None:
    development = settings(auth_jwks_url="https://idp.example/jwks")
    production = settings(auth_jwks_url="https://idp.example/jwks", environment="production")
    assert (development.auth_issuer, development.auth_audience) == (
        DEVELOPMENT_ISSUER,
        DEVELOPMENT_ISSUER,
    )
    assert (production.auth_issuer, production.auth_audience) == ("pcse-status", "pcse-status")


def test_production_never_trusts_the_development_key(keys: tuple[Path, Path]) -> None:
    dev, _ = keys
    with pytest.raises(ValidationError, match="development key"):
        settings(environment="production", auth_public_key_file=dev, auth_allow_key_file=True)
    assert settings(auth_public_key_file=dev).auth_public_key_file == dev


def test_production_takes_a_key_file_only_when_told(keys: tuple[Path, Path]) -> None:
    _, own = keys
    with pytest.raises(ValidationError, match="AUTH_ALLOW_KEY_FILE"):
        settings(environment="production", auth_public_key_file=own)
    allowed = settings(environment="production", auth_public_key_file=own, auth_allow_key_file=True)
    assert allowed.auth_public_key_file == own


def test_production_refuses_the_development_issuer() -> None:
    with pytest.raises(ValidationError, match="development tokens"):
        settings(
            environment="production",
            auth_jwks_url="https://idp.example/jwks",
            auth_issuer=DEVELOPMENT_ISSUER,
        )
