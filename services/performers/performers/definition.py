from __future__ import annotations

from pcse_kit.service import ServiceDefinition

from performers.context import PerformersContext
from performers.demo import seed_demo
from performers.schema import schema
from performers.settings import SERVICE_DIR, PerformersSettings

SERVICE = ServiceDefinition(
    name="performers",
    service_dir=SERVICE_DIR,
    settings_factory=PerformersSettings,
    schema=schema,
    context_factory=PerformersContext,
    seed_demo=seed_demo,
)
