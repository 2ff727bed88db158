from __future__ import annotations

from pcse_kit.service import ServiceDefinition

from records.context import RecordsContext
from records.demo import seed_demo
from records.schema import schema
from records.settings import SERVICE_DIR, RecordsSettings

SERVICE = ServiceDefinition(
    name="records",
    service_dir=SERVICE_DIR,
    settings_factory=RecordsSettings,
    schema=schema,
    context_factory=RecordsContext,
    seed_demo=seed_demo,
)
