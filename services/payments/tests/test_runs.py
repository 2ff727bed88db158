"""Importing a payment run: all or nothing, a row-by-row report, idempotent on its id."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from payments.models import AuditEvent, PaymentRun, Statement, StatementLine
from pcse_kit.testing import Token, graphql, owner_engine
from sqlalchemy import func, select

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

IMPORT = """
mutation ($run: String!, $csv: String!) {
  importPaymentRun(input: {runId: $run, csv: $csv}) {
    runId lineCount statementCount total practiceCodes replayed importedBy
  }
}
"""
HEADER = (
    "ods_code,period,paycode,component,amount,covers_from,covers_to,paymaster,source_system,"
    "authoriser,status,paid_on,gmc_number,authorised_on"
)
GOOD = [
    "A81001,2026-06,GSUM,global_sum,11207.00,,,nhs_england,PCSE Online,NHS England,paid,"
    "2026-06-30,,",
    "A81001,2026-06,QOFACH,qof_achievement,183987.00,2025-04-01,2026-03-31,nhs_england,"
    "PCSE Online,NHS England,paid,2026-06-30,,",
    "A81001,2026-06,SUPEREE,employee_superannuation,-535.00,,,nhs_england,PCSE Online,,paid,"
    "2026-06-30,1234567,",
    "B82002,2026-06-01,PREMRENT,premises,2500.50,,,icb,ISFE,Cornwall ICB,authorised,,,2026-06-20",
]


def run(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


@pytest.fixture
async def directory(make_practice: Any) -> None:
    await make_practice(ods_code="A81001")
    await make_practice(ods_code="B82002")


async def counts(app: FastAPI) -> tuple[int, int, int, int]:
    async with app.state.sessionmaker() as session:
        return tuple(  # type: ignore[return-value]
            [
                await session.scalar(select(func.count()).select_from(table)) or 0
                for table in (Statement, StatementLine, PaymentRun, AuditEvent)
            ]
        )


@pytest.mark.usefixtures("directory")
async def test_a_run_is_imported_with_its_lines_detail(
    app: FastAPI, client: httpx.AsyncClient, token: Token
) -> None:
    operator = token("operator", ["payments"], subject="ops@pcse")

    body = await graphql(client, IMPORT, {"run": "RUN-2026-06", "csv": run(*GOOD)}, token=operator)

    assert body["data"]["importPaymentRun"] == {
        "runId": "RUN-2026-06",
        "lineCount": 4,
        "statementCount": 2,
        "total": "197159.50",
        "practiceCodes": ["A81001", "B82002"],
        "replayed": False,
        "importedBy": "ops@pcse",
    }
    assert await counts(app) == (2, 4, 1, 1)
    async with app.state.sessionmaker() as session:
        lines = list(await session.scalars(select(StatementLine).order_by(StatementLine.id)))
    assert [(ln.paycode, ln.amount_pence, ln.status.value, ln.run_id) for ln in lines] == [
        ("GSUM", 1_120_700, "paid", "RUN-2026-06"),
        ("QOFACH", 18_398_700, "paid", "RUN-2026-06"),
        ("SUPEREE", -53_500, "paid", "RUN-2026-06"),
        ("PREMRENT", 250_050, "authorised", "RUN-2026-06"),
    ]
    assert lines[1].covers_from.isoformat() == "2025-04-01"
    assert lines[2].gmc_number == "1234567"
    assert lines[3].paymaster.value == "icb"
    assert lines[3].authoriser == "Cornwall ICB"


@pytest.mark.usefixtures("directory")
async def test_importing_a_run_again_changes_nothing_and_returns_the_first_result(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    first = await graphql(client, IMPORT, {"run": "RUN-1", "csv": run(*GOOD)})
    again = await graphql(client, IMPORT, {"run": "RUN-1", "csv": run(*GOOD)})
    other = await graphql(client, IMPORT, {"run": "RUN-1", "csv": run(*GOOD[:2])})

    assert again["data"]["importPaymentRun"] == {
        **first["data"]["importPaymentRun"],
        "replayed": True,
    }
    assert other["errors"][0]["extensions"] == {"code": "CONFLICT", "field": "runId"}
    assert await counts(app) == (2, 4, 1, 1)


BAD_ROWS = [
    pytest.param(
        "A81001,2026-06,GSUM,global_sum,100.00,2026-06-30,2026-06-01,,,,paid,2026-06-30,,",
        "covers_to",
        id="negative period",
    ),
    pytest.param(
        "A81001,-2026-06,GSUM,global_sum,100.00,,,,,,paid,2026-06-30,,", "period", id="bad period"
    ),
    pytest.param(
        "A81001,2026-06,GSUM,global_summ,100.00,,,,,,paid,2026-06-30,,",
        "component",
        id="unknown component",
    ),
    pytest.param(
        "A81001,2026-06,GSUMX,global_sum,100.00,,,,,,paid,2026-06-30,,",
        "paycode",
        id="unknown paycode",
    ),
    pytest.param(
        "A81001,2026-06,QOFACH,global_sum,100.00,,,,,,paid,2026-06-30,,",
        "component",
        id="component not the paycode's",
    ),
    pytest.param(
        "A81001,2026-06,GSUM,global_sum,100.001,,,,,,paid,2026-06-30,,",
        "amount",
        id="three decimal places",
    ),
    pytest.param(
        "A81001,2026-06,SUPAVC,additional_voluntary_contributions,100.00,,,,,,paid,2026-06-30,,",
        "amount",
        id="positive AVC (a debit-only paycode)",
    ),
    pytest.param(
        "A81001,2026-06,GSUMARR,global_sum,-100.00,,,,,,paid,2026-06-30,,",
        "amount",
        id="negative arrears (a credit-only paycode)",
    ),
    pytest.param(
        "Z99999,2026-06,GSUM,global_sum,100.00,,,,,,paid,2026-06-30,,",
        "ods_code",
        id="unknown practice",
    ),
    pytest.param(
        "A81001,2026-06,GSUM,global_sum,100.00,,,,,,paid,,,", "paid_on", id="paid without date"
    ),
    pytest.param(
        "A81001,2026-06,GSUM,global_sum,100.00,,,,,,paid,2026-06-30,,,extra", "row", id="malformed"
    ),
]


@pytest.mark.parametrize(("row", "field"), BAD_ROWS)
@pytest.mark.usefixtures("directory")
async def test_a_run_with_a_bad_row_is_refused_whole_naming_the_row_and_field(
    app: FastAPI, client: httpx.AsyncClient, row: str, field: str
) -> None:
    body = await graphql(client, IMPORT, {"run": "RUN-BAD", "csv": run(*GOOD, row, *GOOD)})

    [error] = body["errors"]
    extensions = error["extensions"]
    assert (extensions["code"], extensions["field"], extensions["problems"]) == (
        "BAD_USER_INPUT",
        "csv",
        1,
    )
    assert [(r["row"], r["field"]) for r in extensions["rows"]] == [(6, field)]
    assert "nothing was imported" in error["message"]
    assert await counts(app) == (0, 0, 0, 0)


@pytest.mark.usefixtures("directory")
async def test_the_report_lists_every_bad_row(client: httpx.AsyncClient) -> None:
    rows = [
        "A81001,2026-06,GSUM,global_sum,1.001,,,,,,paid,2026-06-30,,",
        GOOD[0],
        "A81001,2026-13,NOPE,nope,x,,,nowhere,,,sent,,12,",
    ]
    body = await graphql(client, IMPORT, {"run": "RUN-BAD-2", "csv": run(*rows)})

    report = [(r["row"], r["field"]) for r in body["errors"][0]["extensions"]["rows"]]
    assert report == [
        (2, "amount"),
        (4, "period"),
        (4, "paycode"),
        (4, "component"),
        (4, "amount"),
        (4, "paymaster"),
        (4, "status"),
        (4, "gmc_number"),
    ]


async def test_a_header_without_the_required_columns_is_refused(client: httpx.AsyncClient) -> None:
    body = await graphql(
        client,
        IMPORT,
        {"run": "RUN-H", "csv": "ods_code,period,amount,colour\nA81001,2026-06,1,red\n"},
    )
    report = [(r["row"], r["field"]) for r in body["errors"][0]["extensions"]["rows"]]
    assert report == [(1, "paycode"), (1, "component"), (1, "colour")]


@pytest.mark.usefixtures("directory")
async def test_a_negative_adjustment_and_a_refund_are_lines_like_any_other(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    rows = [
        # A list-size correction recovering part of a global sum, and a year-end refund.
        "A81001,2026-06,GSUM,global_sum,-281.11,2026-05-01,2026-05-31,,,,paid,2026-06-30,,",
        "A81001,2026-06,SUPEEYE,employee_superannuation,300.00,2025-04-01,2026-03-31,,,,paid,"
        "2026-06-30,1234567,",
    ]
    body = await graphql(client, IMPORT, {"run": "RUN-SIGNS", "csv": run(*rows)})
    assert body["data"]["importPaymentRun"]["total"] == "18.89"


@pytest.mark.parametrize(
    ("role", "scope", "subject", "consent", "rows", "outcome"),
    [
        pytest.param("practice", ["A81001"], None, False, GOOD[:3], "A81001:OWN-1", id="own"),
        pytest.param("practice", ["A81001"], None, False, GOOD[3:], "FORBIDDEN", id="another's"),
        pytest.param("practice", ["A81001", "B82002"], None, False, GOOD, "BAD_USER_INPUT",
                     id="two practices in one file"),
        pytest.param("accountant", [], "acct-1", True, GOOD[:3], "A81001:OWN-1",
                     id="accountant with consent"),
        pytest.param("accountant", [], "acct-1", False, GOOD[:3], "FORBIDDEN",
                     id="accountant without"),
        pytest.param("lmc", ["kernow"], None, False, GOOD[:3], "FORBIDDEN", id="lmc"),
    ],
)  # fmt: skip
@pytest.mark.usefixtures("directory")
async def test_a_practice_imports_its_own_statements_and_only_its_own(
    app: FastAPI,
    client: httpx.AsyncClient,
    token: Token,
    role: str,
    scope: list[str],
    subject: str | None,
    consent: bool,
    rows: list[str],
    outcome: str,
) -> None:
    if consent:
        from payments.models import AccountantConsent  # noqa: PLC0415

        async with app.state.sessionmaker.begin() as session:
            session.add(
                AccountantConsent(ods_code="A81001", accountant_id="acct-1", granted_by="t")
            )
    caller = token(role, scope, subject=subject)

    body = await graphql(client, IMPORT, {"run": "OWN-1", "csv": run(*rows)}, token=caller)

    if outcome in {"FORBIDDEN", "BAD_USER_INPUT"}:
        assert body["errors"][0]["extensions"]["code"] == outcome
        assert (await counts(app))[:3] == (0, 0, 0)
        return
    assert body["data"]["importPaymentRun"]["runId"] == outcome
    assert body["data"]["importPaymentRun"]["practiceCodes"] == ["A81001"]


@pytest.mark.usefixtures("directory")
async def test_a_run_id_is_validated(client: httpx.AsyncClient) -> None:
    body = await graphql(client, IMPORT, {"run": "run id with spaces", "csv": run(*GOOD)})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "runId"}


@pytest.mark.usefixtures("directory")
async def test_lines_are_append_only(app: FastAPI, client: httpx.AsyncClient) -> None:
    from sqlalchemy import text  # noqa: PLC0415
    from sqlalchemy.exc import DBAPIError  # noqa: PLC0415

    await graphql(client, IMPORT, {"run": "RUN-AO", "csv": run(*GOOD)})
    for statement in ("UPDATE statement_line SET amount_pence = 1", "DELETE FROM statement_line"):
        # As the tables' owner: the service's own role may not even try (test_audit_trail.py).
        async with owner_engine(app).begin() as connection:
            with pytest.raises(DBAPIError, match="append-only"):
                await connection.execute(text(statement))


_COPY_A_LINE = (
    "INSERT INTO statement_line ({columns}) SELECT {chosen}, {rest} FROM statement_line ORDER BY id"
)


@pytest.mark.usefixtures("directory")
async def test_a_line_naming_no_statement_refuses_its_whole_insert_or_copy(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    from asyncpg.exceptions import ForeignKeyViolationError  # noqa: PLC0415
    from payments.statements import repository  # noqa: PLC0415
    from payments.statements.ingest import LINE_COLUMNS  # noqa: PLC0415
    from sqlalchemy import text  # noqa: PLC0415
    from sqlalchemy.exc import DBAPIError  # noqa: PLC0415

    await graphql(client, IMPORT, {"run": "RUN-FK", "csv": run(*GOOD)})
    assert await counts(app) == (2, 4, 1, 1)
    rest = ", ".join(LINE_COLUMNS[1:])
    copy_lines = _COPY_A_LINE.format(columns=", ".join(LINE_COLUMNS), rest=rest, chosen="{}")
    # Four lines again, the last naming a statement that does not exist: none goes in.
    missing = (
        "CASE WHEN id = (SELECT max(id) FROM statement_line) THEN 999999 ELSE statement_id END"
    )
    async with app.state.sessionmaker.begin() as session:
        with pytest.raises(
            DBAPIError, match=r"ForeignKeyViolation.*violates foreign key"
        ) as refused:
            await session.execute(text(copy_lines.format(missing)))
    # As the key said it: which key is missing.
    assert refused.value.orig.__cause__.detail == (  # type: ignore[union-attr]
        'Key (statement_id)=(999999) is not present in table "statement".'
    )
    # By COPY, as an import writes, one good line and one naming no statement: neither.
    async with app.state.sessionmaker() as session:
        good = (
            await session.execute(
                text(f"SELECT {', '.join(LINE_COLUMNS)} FROM statement_line ORDER BY id LIMIT 1")
            )
        ).one()
    bad = (999999, *good[1:])
    async with app.state.sessionmaker.begin() as session:
        # COPY goes through the driver's connection: its own error, not the DBAPI's.
        with pytest.raises(ForeignKeyViolationError, match="violates foreign key"):
            await repository.copy_lines(session, [tuple(good), bad], LINE_COLUMNS)
    assert await counts(app) == (2, 4, 1, 1)
    # The same lines naming their own statements go in: the check refuses only what it should.
    async with app.state.sessionmaker.begin() as session:
        await session.execute(text(copy_lines.format("statement_id")))
    assert await counts(app) == (2, 8, 1, 1)


@pytest.mark.usefixtures("directory")
async def test_a_statement_is_never_deleted_nor_its_id_changed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    from sqlalchemy import text  # noqa: PLC0415
    from sqlalchemy.exc import DBAPIError  # noqa: PLC0415

    await graphql(client, IMPORT, {"run": "RUN-KEPT", "csv": run(*GOOD)})
    for statement in ("DELETE FROM statement", "UPDATE statement SET id = id + 1000"):
        async with app.state.sessionmaker.begin() as session:
            with pytest.raises(DBAPIError, match="never deleted"):
                await session.execute(text(statement))
    # Only the tables' owner may truncate: the statements alone, leaving lines, are refused;
    # with their lines, as the foreign key allowed, they may go.
    async with owner_engine(app).connect() as connection:
        with pytest.raises(DBAPIError, match="nor truncated while lines name it"):
            await connection.execute(text("TRUNCATE statement CASCADE"))
        await connection.rollback()
        await connection.execute(text("TRUNCATE statement, statement_line CASCADE"))
        await connection.rollback()
    # Its other columns may change, as before.
    async with app.state.sessionmaker.begin() as session:
        await session.execute(text("UPDATE statement SET source_system = source_system"))
    assert await counts(app) == (2, 4, 1, 1)


DECLARE = """
mutation ($year: Int!, $amount: Decimal!, $ods: String!) {
  recordQofDeclaration(input: {odsCode: $ods, financialYear: $year, achievement: $amount,
      state: APPROVED, approvedOn: "2025-05-14", idempotencyKey: "declare-bad-1"}) {
    qofDeclarations { label }
  }
}
"""


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"year": -2024, "amount": "100.00", "ods": "A81001"}, "financialYear"),
        ({"year": 2024, "amount": "100.001", "ods": "A81001"}, "achievement"),
        ({"year": 2024, "amount": "-1.00", "ods": "A81001"}, "achievement"),
        ({"year": 2024, "amount": "100.00", "ods": "Z99999"}, "odsCode"),
        ({"year": 2024, "amount": "100.00", "ods": "A8100"}, "odsCode"),
    ],
)
@pytest.mark.usefixtures("directory")
async def test_bad_input_to_the_schedule_is_a_typed_error_and_writes_nothing(
    app: FastAPI, client: httpx.AsyncClient, variables: dict[str, Any], field: str
) -> None:
    body = await graphql(client, DECLARE, variables)

    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert await counts(app) == (0, 0, 0, 0)
