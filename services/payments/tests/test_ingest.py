"""The run parser's two routes: a row like one already found good is checked by its own cells
only (practice, amount, GMC number); any other row gets every check. Both must say the same."""

from __future__ import annotations

from datetime import date

import pytest
from payments.models import ChainStatus, Component, Paycode, PaycodeSign, Paymaster
from payments.statements.ingest import ParsedLine, RunRejected, parse

PAYCODES = {
    "GSUM": Paycode(
        code="GSUM", component=Component.GLOBAL_SUM, description="Global sum",
        sign=PaycodeSign.CREDIT,
    ),
    "ADJ": Paycode(
        code="ADJ", component=Component.GLOBAL_SUM, description="Adjustment",
        sign=PaycodeSign.EITHER,
    ),
}  # fmt: skip
KNOWN = {"A81001", "A81002", "A81003"}
HEADER = "ods_code,period,paycode,component,amount,paid_on,gmc_number"


def run(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def problems(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(RunRejected) as refused:
        parse(text, paycodes=PAYCODES, known_practices=KNOWN)
    return [(e.row, e.field, e.message) for e in refused.value.errors]


def test_rows_like_a_good_one_make_the_same_lines_as_rows_checked_in_full() -> None:
    parsed = parse(
        run(
            "A81001,2026-06,GSUM,global_sum,100.00,2026-06-30,",
            # The same cells but the practice, amount and GMC number: the quick route.
            "A81002,2026-06,GSUM,global_sum,7.5,2026-06-30,1234567",
            "A81003,2026-06,GSUM,global_sum,0,2026-06-30,",
            # An amount in a spelling the quick route leaves to the full check.
            'A81002,2026-06,GSUM,global_sum,"£1,000.05",2026-06-30,',
        ),
        paycodes=PAYCODES,
        known_practices=KNOWN,
    )
    assert [line.amount_pence for line in parsed.lines] == [10000, 750, 0, 100005]
    assert parsed.lines[1] == ParsedLine(
        ods_code="A81002",
        period=date(2026, 6, 1),
        component=Component.GLOBAL_SUM,
        paycode="GSUM",
        description="Global sum",
        amount_pence=750,
        covers_from=date(2026, 6, 1),
        covers_to=date(2026, 6, 30),
        paymaster=Paymaster.NHS_ENGLAND,
        source_system="PCSE Online",
        authoriser=None,
        status=ChainStatus.PAID,
        dates=(None, None, date(2026, 6, 30), None, None),
        gmc_number="1234567",
        remittance_ref=None,
    )


def test_a_bad_cell_in_a_row_like_a_good_one_is_reported_with_its_row() -> None:
    good = "A81001,2026-06,GSUM,global_sum,100.00,2026-06-30,"
    assert problems(
        run(
            good,
            "A81009,2026-06,GSUM,global_sum,100.00,2026-06-30,",  # row 3: not in the directory
            "A81002,2026-06,GSUM,global_sum,-1.00,2026-06-30,",  # row 4: a payment code's sign
            "A81002,2026-06,GSUM,global_sum,1.001,2026-06-30,",  # row 5: a tenth of a penny
            "A81002,2026-06,GSUM,global_sum,100.00,2026-06-30,123",  # row 6: not a GMC number
            "a81002,2026-06,GSUM,global_sum,100.00,2026-06-30,",  # row 7: not an ODS code
            good,
            "A81002,2026-06,ADJ,global_sum,-1.00,2026-06-30,",  # either sign: fine
        )
    ) == [
        (3, "ods_code", "no such practice in the practice directory"),
        (4, "amount", "paycode GSUM carries only payments (zero or more)"),
        (5, "amount", "has more than two decimal places."),
        (6, "gmc_number", "not a GMC number (seven digits)"),
        (7, "ods_code", "not an ODS practice code (a capital letter and five digits)"),
    ]


def test_a_short_row_and_a_long_row_after_good_ones_take_the_full_check() -> None:
    good = "A81001,2026-06,GSUM,global_sum,100.00,2026-06-30,"
    assert problems(run(good, "A81002,2026-06,GSUM", good + ",extra")) == [
        (3, "component", "unknown component ''"),
        (3, "amount", "must be an amount in pounds."),
        (3, "paid_on", "a paid line needs the date it was paid"),
        (4, "row", "more cells than the header has columns"),
    ]
