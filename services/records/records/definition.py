from __future__ import annotations

from pcse_kit.events import Consumer, Relay
from pcse_kit.service import ServiceDefinition

from records import directory
from records.context import RecordsContext
from records.demo import seed_demo
from records.models import DeadLetter, Inbox, Outbox
from records.schema import schema
from records.service import STREAM
from records.settings import SERVICE_DIR, RecordsSettings

SERVICE = ServiceDefinition(
    name="records",
    service_dir=SERVICE_DIR,
    settings_factory=RecordsSettings,
    schema=schema,
    context_factory=RecordsContext,
    seed_demo=seed_demo,
    event_workers=lambda wiring: [
        Consumer(
            wiring.sessionmaker,
            wiring.bus,
            name=directory.CONSUMER,
            streams=[directory.STREAM],
            handler=directory.apply,
            inbox=Inbox,
            dead_letters=DeadLetter,
        ),
        Relay(wiring.engine, wiring.bus, Outbox, stream=STREAM),
    ],
)
