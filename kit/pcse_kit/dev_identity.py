"""A development identity provider: publishes a key set and signs tokens for anyone who asks.

``docker compose up`` runs it (``python -m pcse_kit.dev_identity``) so that the stack works on a
laptop with no outside identity provider: the gateway and the services fetch its JWKS like
they would a real provider's, and a developer asks it for a token::

    curl -s -d role=practice -d scope=A81001 http://127.0.0.1:4010/token

It authenticates nobody, so it refuses to start when ``DEV_IDENTITY_ENVIRONMENT`` is
``production``, and the tokens it signs carry an issuer of their own
(``pcse-status-development`` by default) that a production deployment does not accept.

Endpoints:

- ``GET /.well-known/openid-configuration``: the discovery document (issuer, JWKS, token URL);
- ``GET /.well-known/jwks.json``: the public key, an Ed25519 key made at start and kept in
  memory only, so a restart invalidates every token it signed (verifiers fetch the new key
  set when they meet its key id);
- ``POST /token``: form or JSON fields ``role`` (practice, lmc, accountant, operator, admin),
  ``scope`` (ODS codes, an LMC code or operator domains, separated by spaces or commas),
  ``subject`` (default ``dev-<role>``) and ``expires_in`` (seconds, at most 12 hours).
  Answers as an OAuth 2 token endpoint does (``access_token``, ``token_type``,
  ``expires_in``), or the bare token with ``Accept: text/plain``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any, Final, Literal
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from jwt.algorithms import OKPAlgorithm
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from pcse_kit.auth import Role

logger = logging.getLogger("pcse.dev_identity")

MAX_TTL_SECONDS: Final = 12 * 3600
DEFAULT_TTL_SECONDS: Final = 3600
MAX_BODY_BYTES: Final = 4096


class DevIdentitySettings(BaseSettings):
    """``DEV_IDENTITY_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="DEV_IDENTITY_", extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=4010, ge=1, le=65535)
    issuer: str = Field(
        default="pcse-status-development",
        description="`iss` of the tokens; production deployments expect their provider's.",
    )
    audience: str = Field(default="pcse-status", description="`aud` of the tokens.")
    public_url: str = Field(
        default="http://127.0.0.1:4010",
        description="Where clients reach this service, for the discovery document.",
    )


class Refused(ValueError):
    """A token request this provider will not sign; the message says why."""


class DevIdentityProvider:
    """One signing key, made now; signs tokens the services' verifier accepts."""

    def __init__(self, *, issuer: str, audience: str) -> None:
        self.issuer = issuer
        self.audience = audience
        self._key = Ed25519PrivateKey.generate()
        public: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(self._key.public_key()))
        # A fresh id per key: verifiers that cached the previous key set fetch the new one.
        self.key_id = uuid.uuid4().hex
        self.jwks = {"keys": [{**public, "kid": self.key_id, "use": "sig", "alg": "EdDSA"}]}

    def sign(
        self,
        *,
        role: str,
        scope: list[str],
        subject: str | None = None,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        now: float | None = None,
    ) -> str:
        if role not in {r.value for r in Role}:
            raise Refused(f"role must be one of {', '.join(r.value for r in Role)}")
        if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
            raise Refused(f"expires_in must be between 1 and {MAX_TTL_SECONDS} seconds")
        issued = int(time.time() if now is None else now)
        claims = {
            "sub": subject or f"dev-{role}",
            "role": role,
            "scope": scope,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": issued,
            "exp": issued + ttl_seconds,
        }
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": self.key_id})


def _split_scope(value: str) -> list[str]:
    return [part for part in value.replace(",", " ").split() if part]


def _ttl(fields: dict[str, str]) -> int:
    ttl = fields.get("expires_in", str(DEFAULT_TTL_SECONDS))
    if not ttl.isdigit():
        raise Refused("expires_in must be a whole number of seconds")
    return int(ttl)


async def _token_request(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise Refused("the request is too large")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            decoded = json.loads(body or b"{}")
        except json.JSONDecodeError:
            raise Refused("the body is not JSON") from None
        if not isinstance(decoded, dict):
            raise Refused("the body must be a JSON object")
        return {str(k): str(v) for k, v in decoded.items() if v is not None}
    return {key: values[-1] for key, values in parse_qs(body.decode(errors="replace")).items()}


def create_app(settings: DevIdentitySettings) -> FastAPI:
    if settings.environment == "production":
        raise SystemExit(
            "dev_identity: refusing to run with DEV_IDENTITY_ENVIRONMENT=production: it signs a "
            "token for anyone who asks. Point the deployment at the identity provider's JWKS."
        )
    provider = DevIdentityProvider(issuer=settings.issuer, audience=settings.audience)
    app = FastAPI(title="PCSE status: development identity provider", docs_url=None,
                  redoc_url=None, openapi_url=None)  # fmt: skip
    base = settings.public_url.rstrip("/")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> dict[str, object]:
        return {
            "issuer": settings.issuer,
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "token_endpoint": f"{base}/token",
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "token_endpoint_auth_methods_supported": ["none"],
        }

    @app.get("/.well-known/jwks.json")
    async def jwks() -> JSONResponse:
        # Short caching: a restarted provider has a new key.
        return JSONResponse(provider.jwks, headers={"cache-control": "max-age=60"})

    @app.post("/token")
    async def token(request: Request) -> Response:
        try:
            fields = await _token_request(request)
            ttl = _ttl(fields)
            signed = provider.sign(
                role=fields.get("role", ""),
                scope=_split_scope(fields.get("scope", "")),
                subject=fields.get("subject") or None,
                ttl_seconds=ttl,
            )
        except Refused as error:
            # RFC 6749 section 5.2's error shape.
            return JSONResponse(
                {"error": "invalid_request", "error_description": str(error)}, status_code=400
            )
        if "text/plain" in request.headers.get("accept", ""):
            return PlainTextResponse(signed + "\n")
        return JSONResponse(
            {"access_token": signed, "token_type": "Bearer", "expires_in": ttl},
            headers={"cache-control": "no-store"},
        )

    logger.warning(
        "development identity provider: signs tokens for anyone (issuer %s, audience %s)",
        settings.issuer,
        settings.audience,
    )
    return app


def main() -> None:
    import uvicorn  # noqa: PLC0415 - only serving needs the server

    logging.basicConfig(level="INFO", format="%(asctime)s dev-identity %(levelname)s: %(message)s")
    settings = DevIdentitySettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, access_log=False)


if __name__ == "__main__":
    main()
