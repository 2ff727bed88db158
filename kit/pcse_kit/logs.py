"""Logging for every service: one handler on the root logger, and no NHS number in any line.

Patients' NHS numbers reach this process in requests, and can reach a log through an exception
(PostgreSQL's error details quote the values of a failed key), a warning that formats a value,
or a library's own message. :class:`NhsNumberFilter` masks anything that passes the NHS number
check, in the message, its arguments, the traceback and the stack, before any formatter or
handler sees the record. The SQL engine hides statement parameters as well
(:func:`pcse_kit.db.create_engine`), so the filter is the second of two guards.
"""

from __future__ import annotations

import logging
from typing import Final, Literal

from pcse_kit.identifiers import mask_nhs_numbers

MASK: Final = "[NHS number]"


class NhsNumberFilter(logging.Filter):
    """Rewrites a record so that nothing in it passes the NHS number check; keeps every record.

    The message is formatted here (``msg % args``) and the traceback rendered into
    ``exc_text``, each masked, so what a formatter prints is the masked text whichever
    formatter it is.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_nhs_numbers(message, MASK)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[0] is not None:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            # Formatters render exc_info again if it is left; exc_text is what they fall back on.
            record.exc_info = None
        if record.exc_text:
            record.exc_text = mask_nhs_numbers(record.exc_text, MASK)
        if record.stack_info:
            record.stack_info = mask_nhs_numbers(record.stack_info, MASK)
        return True


def install_filter(handler: logging.Handler) -> None:
    if not any(isinstance(f, NhsNumberFilter) for f in handler.filters):
        handler.addFilter(NhsNumberFilter())


def configure_logging(
    *, level: str, service: str, format: Literal["json", "text"] = "json"
) -> None:
    """The root logger writes to stderr through the masking filter; every library's logger
    (uvicorn's too: it is run without a logging configuration of its own) propagates to it.
    The lines are JSON with the trace id, or text (:func:`pcse_kit.telemetry.configure_logging`)."""
    from pcse_kit.telemetry import configure_logging as configure  # noqa: PLC0415 - it imports us

    configure(service=service, level=level, format=format)
