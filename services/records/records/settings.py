from __future__ import annotations

from pathlib import Path

from pcse_kit.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict

SERVICE_DIR = Path(__file__).resolve().parent.parent


class RecordsSettings(ServiceSettings):
    """Settings of the records service, read from ``RECORDS_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="RECORDS_", extra="ignore", frozen=True)

    port: int = 4002
    demo_directory: Path = SERVICE_DIR.parent.parent / "demo" / "directory.json"
