"""Log lines that carry the trace id, the spans file, and bounded metric labels."""

from __future__ import annotations

import io
import json
import logging
from typing import TYPE_CHECKING

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from pcse_kit import metrics, telemetry

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger as a service configures it, writing to a buffer."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    telemetry.configure_logging(service="example", level="info", format="json")
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        for existing in list(root.handlers):
            root.removeHandler(existing)
        for existing in handlers:
            root.addHandler(existing)
        root.setLevel(level)


def test_a_log_line_is_json_with_the_trace_id_of_its_span(captured: io.StringIO) -> None:
    provider = TracerProvider()
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        logging.getLogger("pcse.example").info("inside %s", "a request", extra={"route": "/x"})
    logging.getLogger("pcse.example").warning("outside")

    inside, outside = (json.loads(line) for line in captured.getvalue().splitlines())
    context = span.get_span_context()
    assert inside["message"] == "inside a request"
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert inside["service"] == "example"
    assert inside["level"] == "INFO"
    assert inside["logger"] == "pcse.example"
    assert inside["route"] == "/x"
    assert inside["time"].endswith("+00:00")
    assert "trace_id" not in outside
    assert outside["level"] == "WARNING"


def test_the_spans_file_holds_one_json_object_per_span(tmp_path: Path) -> None:
    path = tmp_path / "spans" / "example.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(telemetry.SpanFile(path)))  # type: ignore[arg-type]
    tracer = provider.get_tracer("test")
    with (
        tracer.start_as_current_span("outer") as outer,
        tracer.start_as_current_span("inner", attributes={"db.statement": "SELECT 1"}),
    ):
        pass

    inner, written_outer = (json.loads(line) for line in path.read_text().splitlines())
    ids = outer.get_span_context()
    assert written_outer["name"] == "outer"
    assert written_outer["parent_span_id"] is None
    assert inner["parent_span_id"] == format(ids.span_id, "016x")
    assert inner["trace_id"] == written_outer["trace_id"] == format(ids.trace_id, "032x")
    assert inner["attributes"] == {"db.statement": "SELECT 1"}
    assert inner["kind"] == "internal"
    assert inner["start"] <= inner["end"]


def test_tracing_is_off_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry, "_provider", None)

    assert telemetry.configure_tracing(service="x", otlp_endpoint=None, traces_file=None) is None
    # Nothing was installed: the API's tracer is the no-op one.
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)


def test_operation_names_from_clients_make_a_bounded_set_of_labels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(metrics, "_seen_operations", set())
    assert metrics.operation_label(None) == "anonymous"
    assert metrics.operation_label("no spaces allowed") == "invalid"
    assert metrics.operation_label("x" * 65) == "invalid"
    names = [metrics.operation_label(f"Op{n}") for n in range(metrics.MAX_OPERATION_NAMES + 50)]
    assert "other" in names
    assert len({n for n in names if n != "other"}) <= metrics.MAX_OPERATION_NAMES
    # A name seen before the limit keeps its own label.
    assert metrics.operation_label(names[0]) == names[0]
