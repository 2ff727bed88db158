from __future__ import annotations

from functools import cache
from pathlib import Path

from pcse_kit.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from records.timers import Targets

SERVICE_DIR = Path(__file__).resolve().parent.parent


class RecordsSettings(ServiceSettings):
    """Settings of the records service, read from ``RECORDS_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="RECORDS_", extra="ignore", frozen=True)

    port: int = 4002
    demo_directory: Path = SERVICE_DIR.parent.parent / "demo" / "directory.json"


class TimerSettings(BaseSettings):
    """The movement timers' targets, read from ``RECORDS_*`` variables.

    Apart from the service settings because every request needs them and nothing else: they
    are read once per process, without the database URL and keys the service needs.
    """

    model_config = SettingsConfigDict(env_prefix="RECORDS_", extra="ignore", frozen=True)

    urgent_target_working_days: int = Field(
        default=Targets.urgent_working_days,
        ge=1,
        le=60,
        description="Working days an urgent request may take to be delivered (PCSE publishes "
        "no target). A change applies to movements requested from then on.",
    )

    routine_request_target_working_days: int = Field(
        default=Targets.routine_request_working_days,
        ge=1,
        le=120,
        description="Working days a routine request may take to be delivered (PCSE publishes "
        "no target).",
    )
    cross_border_delivery_working_days: int = Field(
        default=Targets.cross_border_delivery_working_days,
        ge=1,
        le=120,
        description="Working days delivery from Wales, Scotland or Northern Ireland may take "
        "(PCSE says longer than two weeks, without a figure).",
    )

    def targets(self) -> Targets:
        return Targets(
            urgent_working_days=self.urgent_target_working_days,
            routine_request_working_days=self.routine_request_target_working_days,
            cross_border_delivery_working_days=self.cross_border_delivery_working_days,
        )


@cache
def timer_targets() -> Targets:
    return TimerSettings().targets()
