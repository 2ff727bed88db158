from __future__ import annotations

from pcse_kit.events import Relay
from pcse_kit.service import ServiceDefinition

from payments import events
from payments.compensation import consumer as compensation
from payments.context import PaymentsContext
from payments.demo import seed_demo
from payments.directory import consumer as directory
from payments.models import Outbox
from payments.schema import schema
from payments.settings import SERVICE_DIR, PaymentsSettings
from payments.settings import webhooks as webhook_settings
from payments.statements import exports
from payments.webhooks import delivery, fanout

SERVICE = ServiceDefinition(
    name="payments",
    service_dir=SERVICE_DIR,
    settings_factory=PaymentsSettings,
    schema=schema,
    context_factory=PaymentsContext,
    seed_demo=seed_demo,
    event_workers=lambda wiring: [
        directory.consumer(wiring),
        compensation.consumer(wiring),
        Relay(wiring.engine, wiring.bus, Outbox, stream=events.STREAM),
        # Webhooks: the service's own events fanned out to subscriptions, then sent.
        fanout.consumer(wiring),
        delivery.DeliveryWorker(wiring.sessionmaker, webhook_settings()),
    ],
    routers=(exports.router,),
)
