"""Logs and traces: JSON log lines that carry the trace id, and OpenTelemetry spans.

Tracing is off unless an OTLP endpoint or a spans file is configured; then a service records a
span for each HTTP request it serves (continuing the caller's ``traceparent``), each SQL
statement it sends, and each event it publishes or applies (:mod:`pcse_kit.events`). Off, no
instrumentation is installed at all: the OpenTelemetry API's no-op tracer is what the event
code meets, and it costs a function call.

Every log line carries the ids of the span that was current when it was written, so one
request can be followed through the gateway's and every service's logs, and from a log line
to its trace.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from pcse_kit.logs import install_filter

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from fastapi import FastAPI
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExportResult
    from opentelemetry.sdk.trace.sampling import Sampler, SamplingResult
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "SpanFile",
    "configure_logging",
    "configure_tracing",
    "instrument_app",
    "instrument_engine",
]

UNTRACED_PATHS: Final = "healthz,readyz,metrics"
"""Probes and scrapes come every few seconds and would drown the traces that matter."""
FILE_EXPORT_DELAY_MS: Final = 200

_KINDS: Final = {
    trace.SpanKind.INTERNAL: "internal",
    trace.SpanKind.SERVER: "server",
    trace.SpanKind.CLIENT: "client",
    trace.SpanKind.PRODUCER: "producer",
    trace.SpanKind.CONSUMER: "consumer",
}


class _TraceIds(logging.Filter):
    """Adds the current span's ``trace_id`` and ``span_id`` (hex) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        else:
            record.trace_id = record.span_id = None
        return True


class _Json(JsonFormatter):
    def __init__(self, service: str) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            static_fields={"service": service},
            timestamp=False,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        # Time first, in UTC with milliseconds: what log stores sort and parse best.
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        super().add_fields(log_data, record, message_dict)
        for key in ("trace_id", "span_id"):
            if log_data.get(key) is None:
                log_data.pop(key, None)


def configure_logging(
    *, service: str, level: str, format: Literal["json", "text"] = "json"
) -> None:
    """Send every log record, the web server's included, to stderr in the chosen format, with
    NHS numbers masked (:mod:`pcse_kit.logs`) before anything is formatted."""
    handler = logging.StreamHandler()
    install_filter(handler)
    handler.addFilter(_TraceIds())
    if format == "json":
        handler.setFormatter(_Json(service))
    else:
        handler.setFormatter(
            logging.Formatter(
                f"%(asctime)s {service} %(levelname)s %(name)s [%(trace_id)s]: %(message)s"
            )
        )
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # Uvicorn's own handlers would print a second, unstructured copy of each line.
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


class SpanFile:
    """A span exporter appending one JSON object per finished span to a file.

    For development and tests, which read traces without a collector. The fields are the
    ones the gateway's own file exporter writes too: ``service``, ``name``, ``kind``,
    ``trace_id``, ``span_id``, ``parent_span_id``, ``start``, ``end`` (ISO times),
    ``status`` and ``attributes``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        from opentelemetry.sdk.trace.export import SpanExportResult  # noqa: PLC0415

        lines = [json.dumps(_span_record(span), default=str) + "\n" for span in spans]
        with self._lock, self.path.open("a", encoding="utf-8") as file:
            file.writelines(lines)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def _time(nanoseconds: int | None) -> str | None:
    if nanoseconds is None:
        return None
    return datetime.fromtimestamp(nanoseconds / 1e9, UTC).isoformat(timespec="microseconds")


def _span_record(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    assert context is not None
    return {
        "service": span.resource.attributes.get("service.name"),
        "name": span.name,
        "kind": _KINDS.get(span.kind, "internal"),
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_span_id": None if span.parent is None else format(span.parent.span_id, "016x"),
        "start": _time(span.start_time),
        "end": _time(span.end_time),
        "status": span.status.status_code.name.lower(),
        "attributes": dict(span.attributes or {}),
    }


def _NoLoneQueries(ratio: Sampler) -> Sampler:  # noqa: N802 - a sampler's factory
    """Drops a trace that would start with a SQL statement: the relay's idle polls and start-up
    work would otherwise each make a one-span trace, burying the requests and events."""
    from opentelemetry.sdk.trace.sampling import (  # noqa: PLC0415
        Decision,
        Sampler,
        SamplingResult,
    )

    class NoLoneQueries(Sampler):
        def should_sample(  # noqa: PLR0917 - the Sampler interface
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: trace.SpanKind | None = None,
            attributes: Any = None,
            links: Any = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            if kind is trace.SpanKind.CLIENT:
                return SamplingResult(Decision.DROP)
            return ratio.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )

        def get_description(self) -> str:
            return f"NoLoneQueries{{{ratio.get_description()}}}"

    return NoLoneQueries()


_provider_lock = threading.Lock()
_provider: TracerProvider | None = None


def configure_tracing(
    *,
    service: str,
    otlp_endpoint: str | None,
    traces_file: Path | None,
    sample_ratio: float = 1.0,
) -> TracerProvider | None:
    """The process's tracer provider, made on first call; None while tracing is off.

    The provider becomes OpenTelemetry's global one, which can be set once per process: the
    first configuration wins, later calls return it.
    """
    global _provider  # noqa: PLW0603 - one provider per process, as OpenTelemetry has it
    if otlp_endpoint is None and traces_file is None:
        return _provider
    with _provider_lock:
        if _provider is not None:
            return _provider
        # Imported only when tracing is on: the SDK and the exporter cost start-up time.
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415
        from opentelemetry.sdk.trace.sampling import (  # noqa: PLC0415
            ParentBased,
            TraceIdRatioBased,
        )

        provider = TracerProvider(
            resource=Resource.create({"service.name": service}),
            sampler=ParentBased(_NoLoneQueries(TraceIdRatioBased(sample_ratio))),
        )
        if otlp_endpoint is not None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
                OTLPSpanExporter,
            )

            provider.add_span_processor(
                BatchSpanProcessor(
                    OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces")
                )
            )
        if traces_file is not None:
            provider.add_span_processor(
                BatchSpanProcessor(
                    SpanFile(traces_file),  # type: ignore[arg-type]
                    schedule_delay_millis=FILE_EXPORT_DELAY_MS,
                )
            )
        trace.set_tracer_provider(provider)
        _provider = provider
        return provider


def instrument_app(app: FastAPI, provider: TracerProvider) -> None:
    """A server span for each request, continuing the caller's ``traceparent``."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor  # noqa: PLC0415

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls=UNTRACED_PATHS,
        exclude_spans=["receive", "send"],
    )


def instrument_engine(engine: AsyncEngine, provider: TracerProvider) -> None:
    """A client span for each SQL statement ``engine`` sends, with its text (never its values).

    The instrumentor's ``instrument(engine=...)`` works for the first engine of a process
    only, so its engine tracer is attached directly.
    """
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer  # noqa: PLC0415

    tracer = trace.get_tracer("opentelemetry.instrumentation.sqlalchemy", tracer_provider=provider)
    connections = otel_metrics.get_meter("pcse.db").create_up_down_counter(
        "db.client.connections.usage"
    )
    EngineTracer(tracer, engine.sync_engine, connections)  # type: ignore[no-untyped-call]
