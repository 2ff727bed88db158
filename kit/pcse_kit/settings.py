"""The settings every service shares; each service subclasses it with its own env prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pcse_kit.auth import (
    DEVELOPMENT_AUDIENCE,
    DEVELOPMENT_ISSUER,
    JWKS_MAX_AGE_SECONDS,
    PRODUCTION_AUDIENCE,
    PRODUCTION_ISSUER,
    ClaimsMapping,
    is_development_key,
)
from pcse_kit.bodylimit import DEFAULT_MAX_BODY_BYTES


class ServiceSettings(BaseSettings):
    """Settings common to every subgraph service.

    A subclass sets ``env_prefix`` (``PAYMENTS_``, ...) so that one environment can hold the
    settings of all three services without collisions.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = Field(
        description="PostgreSQL URL of this service's own database (postgresql://...), as the "
        "service's role: it reads and writes rows, and only reads and appends audit rows.",
    )
    migrate_database_url: str | None = Field(
        default=None,
        description="The same database as the migrator role, which owns the tables and runs "
        "the migrations; unset, the migrations run as the service's role.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    db_pool_size: int = Field(
        default=20,
        ge=1,
        description="Connections the service keeps open to PostgreSQL, opened as first needed.",
    )
    db_max_overflow: int = Field(
        default=0,
        ge=0,
        description="Connections opened beyond the pool under a burst and closed as soon as "
        "they are returned. 0 by default: a burst then waits for a pooled connection, where "
        "each overflow connection cost a new server process, the TLS probe, the driver's type "
        "introspection and a cold statement cache (100 to 160 of them per 1,000 status "
        "queries at 100 a second with 10 + 10).",
    )
    db_statement_timeout_seconds: float = Field(
        default=10.0,
        ge=0,
        description="PostgreSQL's statement_timeout on every connection the service opens: a "
        "statement running longer is cancelled and its request fails. 0 turns it off.",
    )
    shutdown_grace_seconds: int = Field(
        default=10,
        ge=0,
        description="On SIGTERM or SIGINT, how long requests in flight get to finish before "
        "they are cancelled.",
    )
    migrate_on_start: bool = True
    nats_url: str | None = Field(
        default=None,
        description="The event broker, NATS with JetStream (nats://host:4222; several servers "
        "of a cluster comma-separated); unset, no events are relayed or consumed, though "
        "they still wait in the outbox.",
    )
    nats_user: str | None = Field(
        default=None,
        description="This service's NATS user; the broker lets it publish only its own "
        "stream and read only the consumers it owns.",
    )
    nats_password: SecretStr | None = Field(default=None, description="That user's password.")
    log_format: Literal["json", "text"] = Field(
        default="json",
        description="json: one JSON object a line, with the trace and span ids of the request "
        "or event it belongs to; text: lines for a person at a terminal.",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="Export traces over OTLP/HTTP to this collector (http://collector:4318); "
        "with neither this nor traces_file set, tracing is off and costs nothing.",
    )
    traces_file: Path | None = Field(
        default=None,
        description="Append finished spans to this file, one JSON object a line "
        "(development and tests).",
    )
    trace_sample_ratio: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="Share of new traces kept; a request arriving with a sampled traceparent "
        "is always kept, so a trace is never cut in half.",
    )
    seed_demo: bool = Field(
        default=False, description="Load the deterministic demo data on start-up, once."
    )
    graphql_ide: bool = False
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES,
        ge=1024,
        description="Largest request body accepted (413 above it), before anything is parsed.",
    )
    auth_issuer: str = Field(
        description="Expected `iss` of tokens: `pcse-status` in production, "
        "`pcse-status-development` otherwise."
    )
    auth_audience: str = Field(
        description="Expected `aud` of tokens: `pcse-status` in production, "
        "`pcse-status-development` otherwise."
    )
    auth_public_key_file: Path | None = Field(
        default=None,
        description="PEM public key that signs tokens (development, tests); production refuses "
        "one unless AUTH_ALLOW_KEY_FILE is set, and never takes the development key.",
    )
    auth_allow_key_file: bool = Field(
        default=False, description="Production: trust AUTH_PUBLIC_KEY_FILE as well."
    )
    auth_jwks_url: str | None = Field(
        default=None, description="JWKS URL of the identity provider (production)."
    )
    auth_jwks_max_age_seconds: float = Field(
        default=JWKS_MAX_AGE_SECONDS,
        gt=0,
        le=86400,
        description="How long a fetched key set is trusted before it is fetched again: a key "
        "withdrawn from the set stops working within this time.",
    )
    auth_cache_size: int = Field(
        default=10_000,
        ge=0,
        description="Verified tokens remembered (by hash, at most 60 seconds and never past "
        "their expiry), so a caller's next request skips the signature check; 0 checks "
        "every request's.",
    )
    auth_role_claim: str = Field(
        default="role", description="The claim holding the role, e.g. https://pcse.example/role."
    )
    auth_scope_claim: str = Field(
        default="scope", description="The claim holding the scope: a list, or space-separated."
    )
    auth_cis2_practice_roles: str | None = Field(
        default=None,
        description="National RBAC job roles (R codes, comma-separated) that make a CIS2 user "
        "their practice's; unset, R8000 and R8008; empty, none.",
    )
    auth_clients_file: Path | None = Field(
        default=None,
        description="JSON table of client-credentials clients: their role, scope and subject.",
    )

    @model_validator(mode="before")
    @classmethod
    def _issuer_defaults(cls, data: Any) -> Any:
        # Development tokens carry the development issuer and audience, which production
        # neither expects by default nor accepts when configured.
        if isinstance(data, dict):
            production = data.get("environment") == "production"
            data.setdefault("auth_issuer", PRODUCTION_ISSUER if production else DEVELOPMENT_ISSUER)
            data.setdefault(
                "auth_audience", PRODUCTION_AUDIENCE if production else DEVELOPMENT_AUDIENCE
            )
        return data

    @field_validator("database_url", "migrate_database_url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value is None:
            return value
        scheme = value.split("://", 1)[0]
        if scheme not in {"postgresql", "postgres", "postgresql+asyncpg"}:
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("otlp_endpoint", "traces_file", "nats_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # Compose passes an unset variable as an empty string.
        return None if value == "" else value

    @field_validator("nats_url")
    @classmethod
    def _nats_only(cls, value: str | None) -> str | None:
        if value is None:
            return None
        for server in value.split(","):
            if server.strip().split("://", 1)[0] not in {"nats", "tls"}:
                raise ValueError("nats_url must be nats:// or tls:// URLs, comma-separated")
        return value

    @model_validator(mode="after")
    def _nats_credentials_in_pairs(self) -> Self:
        if (self.nats_user is None) != (self.nats_password is None):
            raise ValueError("set NATS_USER and NATS_PASSWORD together (with the service prefix)")
        return self

    @model_validator(mode="after")
    def _can_verify_tokens(self) -> Self:
        # There is no unauthenticated mode: a service that cannot check tokens does not start.
        if self.auth_public_key_file is None and self.auth_jwks_url is None:
            raise ValueError("set AUTH_PUBLIC_KEY_FILE or AUTH_JWKS_URL (with the service prefix)")
        if self.environment != "production":
            return self
        key_file = self.auth_public_key_file
        if key_file is not None and is_development_key(key_file):
            raise ValueError(
                f"AUTH_PUBLIC_KEY_FILE {key_file} is the development key; production never "
                "trusts it"
            )
        if key_file is not None and not self.auth_allow_key_file:
            raise ValueError(
                "production verifies tokens with the identity provider's keys (AUTH_JWKS_URL); "
                "to trust AUTH_PUBLIC_KEY_FILE as well, set AUTH_ALLOW_KEY_FILE=true"
            )
        if DEVELOPMENT_ISSUER in {self.auth_issuer, self.auth_audience}:
            raise ValueError(
                f"production does not accept development tokens ({DEVELOPMENT_ISSUER}); set "
                "AUTH_ISSUER and AUTH_AUDIENCE to the identity provider's"
            )
        return self

    @property
    def migration_url(self) -> str:
        """The migrator's connection, or the service's own when no migrator is configured."""
        return self.migrate_database_url or self.database_url

    def claims_mapping(self) -> ClaimsMapping:
        return ClaimsMapping.load(
            role_claim=self.auth_role_claim,
            scope_claim=self.auth_scope_claim,
            cis2_practice_role_codes=self.auth_cis2_practice_roles,
            clients_file=self.auth_clients_file,
        )
