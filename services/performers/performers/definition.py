from __future__ import annotations

from pcse_kit.events import Relay
from pcse_kit.service import ServiceDefinition

from performers.context import PerformersContext
from performers.demo import seed_demo
from performers.models import Outbox
from performers.schema import schema
from performers.settings import SERVICE_DIR, PerformersSettings
from performers.writes import STREAM

SERVICE = ServiceDefinition(
    name="performers",
    service_dir=SERVICE_DIR,
    settings_factory=PerformersSettings,
    schema=schema,
    context_factory=PerformersContext,
    seed_demo=seed_demo,
    event_workers=lambda wiring: [
        Relay(wiring.engine, wiring.bus, Outbox, stream=STREAM),
    ],
)
