"""The development identity provider, run as ``docker compose`` runs it, signs tokens that the
services' own verifier accepts from its JWKS, and refuses to run in production."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import httpx
import pytest
from pcse_kit.auth import Role, TokenVerifier, Unauthenticated
from pcse_kit.dev_identity import DevIdentitySettings, create_app

from stack import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

ISSUER = "pcse-status-development"


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pcse_kit.dev_identity"],
        env={
            **os.environ,
            "DEV_IDENTITY_PORT": str(port),
            "DEV_IDENTITY_PUBLIC_URL": f"http://127.0.0.1:{port}",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == httpx.codes.OK:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.wait(10)


async def test_its_tokens_pass_the_services_verifier_through_its_jwks(provider: str) -> None:
    http = httpx.AsyncClient()
    discovery = (await http.get(f"{provider}/.well-known/openid-configuration")).json()
    assert discovery["issuer"] == ISSUER
    verifier = TokenVerifier(issuer=ISSUER, audience="pcse-status", jwks_url=discovery["jwks_uri"])
    answer = await http.post(
        f"{provider}/token", data={"role": "practice", "scope": "A81001 B82002"}
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    principal = await verifier.verify(f"Bearer {body['access_token']}")
    assert principal.role is Role.PRACTICE
    assert principal.scope == frozenset({"A81001", "B82002"})
    assert principal.subject == "dev-practice"

    bare = await http.post(
        f"{provider}/token",
        json={"role": "lmc", "scope": "kernow", "subject": "lmc-desk"},
        headers={"accept": "text/plain"},
    )
    lmc = await verifier.verify(f"Bearer {bare.text.strip()}")
    assert (lmc.role, lmc.scope, lmc.subject) == (Role.LMC, frozenset({"kernow"}), "lmc-desk")

    # Its tokens are for its own issuer: a deployment expecting another refuses them.
    production = TokenVerifier(
        issuer="https://login.example.nhs.uk",
        audience="pcse-status",
        jwks_url=discovery["jwks_uri"],
    )
    with pytest.raises(Unauthenticated):
        await production.verify(f"Bearer {body['access_token']}")
    await http.aclose()


@pytest.mark.parametrize(
    "fields",
    [
        {"role": "superuser"},
        {"role": "admin", "expires_in": "86401"},
        {"role": "admin", "expires_in": "x"},
    ],
)
def test_it_refuses_what_it_would_not_sign(provider: str, fields: dict[str, str]) -> None:
    answer = httpx.post(f"{provider}/token", data=fields)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


def test_it_will_not_run_in_production() -> None:
    with pytest.raises(SystemExit, match="refusing to run"):
        create_app(DevIdentitySettings(environment="production"))
