from __future__ import annotations

import functools
from pathlib import Path

from pcse_kit.settings import ServiceSettings
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_DIR = Path(__file__).resolve().parent.parent
MAX_RUN_CHARACTERS = 2_000_000
"""A run sent through GraphQL; the gateway's own body limit is usually lower (see its README)."""


class PaymentsSettings(ServiceSettings):
    """Settings of the payments service, read from ``PAYMENTS_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore", frozen=True)

    port: int = 4001
    demo_directory: Path = SERVICE_DIR.parent.parent / "demo" / "directory.json"


class WebhookSettings(BaseSettings):
    """Settings of webhooks, read from ``PAYMENTS_WEBHOOKS_*`` variables (the resolvers and the
    delivery worker read them alike)."""

    model_config = SettingsConfigDict(env_prefix="PAYMENTS_WEBHOOKS_", extra="ignore", frozen=True)

    allow_private_targets: bool = False
    """Let webhook URLs be http:// and reach loopback and private addresses. Off in any real
    deployment (a subscriber could otherwise make this service call inside its network); on
    only in the development and test stacks, whose receivers listen on 127.0.0.1."""
    backoff_base_seconds: float = 60.0
    """The first retry's delay; each next one doubles, up to 720 times this (12 hours at the
    default). The test stack shortens it so that retries come in seconds."""
    disable_after_days: float = 5.0
    """A subscription whose every attempt has failed for this long is disabled (resume it)."""
    senders: int = 4
    """Deliveries sent at once by one process (each holds a database connection meanwhile)."""


@functools.cache
def webhooks() -> WebhookSettings:
    """The process's settings, read once (what a resolver needs of them)."""
    return WebhookSettings()
