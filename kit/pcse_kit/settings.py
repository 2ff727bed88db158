"""The settings every service shares; each service subclasses it with its own env prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Settings common to every subgraph service.

    A subclass sets ``env_prefix`` (``PAYMENTS_``, ...) so that one environment can hold the
    settings of all three services without collisions.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = Field(
        description="PostgreSQL URL of this service's own database (postgresql://...).",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
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
    events_database_url: str | None = Field(
        default=None,
        description="The event bus database (postgresql://...); unset, no events are relayed "
        "or consumed, though they still wait in the outbox.",
    )
    seed_demo: bool = Field(
        default=False, description="Load the deterministic demo data on start-up, once."
    )
    graphql_ide: bool = False
    auth_issuer: str = Field(default="pcse-status", description="Expected `iss` of tokens.")
    auth_audience: str = Field(default="pcse-status", description="Expected `aud` of tokens.")
    auth_public_key_file: Path | None = Field(
        default=None, description="PEM public key that signs tokens (development, tests)."
    )
    auth_jwks_url: str | None = Field(
        default=None, description="JWKS URL of the identity provider (production)."
    )

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str) -> str:
        scheme = value.split("://", 1)[0]
        if scheme not in {"postgresql", "postgres", "postgresql+asyncpg"}:
            raise ValueError("database_url must be a postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _can_verify_tokens(self) -> Self:
        # There is no unauthenticated mode: a service that cannot check tokens does not start.
        if self.auth_public_key_file is None and self.auth_jwks_url is None:
            raise ValueError("set AUTH_PUBLIC_KEY_FILE or AUTH_JWKS_URL (with the service prefix)")
        return self
