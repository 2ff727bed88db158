from __future__ import annotations

from pathlib import Path

from pcse_kit.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict

SERVICE_DIR = Path(__file__).resolve().parent.parent
MAX_RUN_CHARACTERS = 2_000_000
"""A run sent through GraphQL; the gateway's own body limit is usually lower (see its README)."""


class PaymentsSettings(ServiceSettings):
    """Settings of the payments service, read from ``PAYMENTS_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore", frozen=True)

    port: int = 4001
    demo_directory: Path = SERVICE_DIR.parent.parent / "demo" / "directory.json"
