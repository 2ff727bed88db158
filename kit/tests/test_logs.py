"""No NHS number in a log: the SQL engine hides statement parameters, the logging filter masks
whatever passes the NHS number check, and free text refuses one."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from pcse_kit.db import create_engine
from pcse_kit.errors import BadUserInput
from pcse_kit.identifiers import free_text, mask_nhs_numbers, nhs_numbers_in
from pcse_kit.logs import NhsNumberFilter
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from pcse_kit.postgres import EmbeddedPostgres

VALID = "9434765919"  # the NHS Data Dictionary's worked example
INVALID = "9434765918"  # the same with a wrong check digit


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"patient {VALID} moved", "patient [NHS number] moved"),
        ("patient 943 476 5919 moved", "patient [NHS number] moved"),
        ("patient 943-476-5919 moved", "patient [NHS number] moved"),
        (f"({VALID})=(x)", "([NHS number])=(x)"),
        (f"{VALID},{VALID}", "[NHS number],[NHS number]"),
        (f"ref {INVALID}", f"ref {INVALID}"),  # fails the check: not one
        (f"run 1{VALID}", f"run 1{VALID}"),  # part of a longer number: not one
        (f"run {VALID}7", f"run {VALID}7"),
        ("phone 01632 960 123", "phone 01632 960 123"),
    ],
)
def test_masking_finds_nhs_numbers_as_people_write_them(text: str, masked: str) -> None:
    assert mask_nhs_numbers(text) == masked
    assert bool(nhs_numbers_in(text)) == (masked != text)


def _captured(logger_name: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(NhsNumberFilter())
    logger = logging.getLogger(logger_name)
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def _fail() -> None:
    raise ValueError(f"duplicate key (nhs_number)=({VALID})")


def test_the_filter_masks_message_arguments_traceback_and_stack() -> None:
    logger, stream = _captured("pcse.test.masking")
    logger.info("looked up %s for %s", VALID, "A81001")
    try:
        _fail()
    except ValueError:
        logger.exception("failed on 943 476 5919")
    logger.info("here", stack_info=True, extra={"unused": VALID})

    output = stream.getvalue()
    assert VALID not in output
    assert "943 476 5919" not in output
    assert "looked up [NHS number] for A81001" in output
    assert "duplicate key (nhs_number)=([NHS number])" in output  # the traceback's last line
    assert "Traceback" in output


async def test_a_failed_statement_does_not_carry_its_parameters(
    postgres: EmbeddedPostgres,
) -> None:
    """The finding: a logged database error showed the statement's parameters, NHS numbers
    among them."""
    engine = create_engine(postgres.dsn(), application_name="test-logs", pool_size=1)
    try:
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError) as raised:
                await connection.execute(text("SELECT CAST(:nhs AS text), 1 / 0"), {"nhs": VALID})
    finally:
        await engine.dispose()
    assert "division by zero" in str(raised.value)
    assert VALID not in str(raised.value)
    assert "parameters hidden" in str(raised.value)


async def test_a_driver_error_quoting_a_value_is_masked_in_the_log(
    postgres: EmbeddedPostgres,
) -> None:
    """The driver itself quotes a value it cannot convert, which hiding parameters cannot
    stop: the filter is the second guard."""
    logger, stream = _captured("pcse.test.driver")
    engine = create_engine(postgres.dsn(), application_name="test-logs", pool_size=1)
    try:
        async with engine.connect() as connection:
            try:
                await connection.execute(text("SELECT CAST(:n AS integer)"), {"n": f"x{VALID}"})
            except DBAPIError:
                logger.exception("the lookup failed")
    finally:
        await engine.dispose()
    output = stream.getvalue()
    assert "the lookup failed" in output
    assert "x[NHS number]" in output
    assert VALID not in output


@pytest.mark.parametrize("value", [VALID, "943 476 5919", f"seen {VALID}.", "943-476-5919"])
def test_free_text_refuses_an_nhs_number(value: str) -> None:
    with pytest.raises(BadUserInput) as refused:
        free_text(value, field="note", limit=100)
    assert refused.value.field == "note"
    assert VALID not in refused.value.message


@pytest.mark.parametrize(
    ("value", "kept"),
    [("  Sent by post  ", "Sent by post"), (f"ref {INVALID}", f"ref {INVALID}")],
)
def test_free_text_keeps_everything_else(value: str, kept: str) -> None:
    assert free_text(value, field="note", limit=100) == kept


@pytest.mark.parametrize("value", ["", "   ", "x" * 101])
def test_free_text_keeps_its_length_limits(value: str) -> None:
    with pytest.raises(BadUserInput, match="1-100 characters"):
        free_text(value, field="note", limit=100)


def test_a_service_process_masks_every_logger_it_writes() -> None:
    """What ``python -m <service> serve`` sets up: the root handler, with the filter, and
    uvicorn's and SQLAlchemy's loggers propagating to it."""
    script = (
        "import logging\n"
        "from pcse_kit.logs import configure_logging\n"
        "configure_logging(level='info', service='demo')\n"
        f"for name in ('uvicorn.error', 'sqlalchemy.engine', 'pcse.any'):\n"
        f"    logging.getLogger(name).warning('%s saw {VALID}', name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert VALID not in result.stderr
    assert result.stderr.count("[NHS number]") == 3
