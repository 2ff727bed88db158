"""The payments service's own events, written to its outbox in the transaction of the change:
a statement published, then changed by a later run; an anomaly raised, then resolved."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from payments.detection import service
from payments.models import ChainStatus, Component, Outbox
from pcse_kit.testing import Token, graphql
from sqlalchemy import select

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

IMPORT = """
mutation ($run: String!, $csv: String!) {
  importPaymentRun(input: {runId: $run, csv: $csv}) { runId }
}
"""
HEADER = "ods_code,period,paycode,component,amount,status,paid_on\n"


async def outbox(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(select(Outbox).order_by(Outbox.c.id))
        return [(row.type, row.key, row.payload) for row in rows]


async def test_a_statement_is_published_then_changed_by_a_later_run(
    app: FastAPI, client: httpx.AsyncClient, token: Token, make_practice: Any
) -> None:
    await make_practice(ods_code="A81001")
    operator = token("operator", ["payments"])
    first = HEADER + "A81001,2026-06,GSUM,global_sum,100.00,paid,2026-06-30\n"
    second = HEADER + "A81001,2026-06,GSUM,global_sum,-10.00,paid,2026-07-15\n"

    await graphql(client, IMPORT, {"run": "RUN-A", "csv": first}, token=operator)
    await graphql(client, IMPORT, {"run": "RUN-A", "csv": first}, token=operator)  # a replay
    await graphql(client, IMPORT, {"run": "RUN-B", "csv": second}, token=operator)

    statements = [(t, k, p) for t, k, p in await outbox(app) if t.startswith("statement.")]
    assert [(t, k, p["period"], p["runId"], p["linesAdded"], p["linesBefore"])
            for t, k, p in statements] == [
        ("statement.published", "A81001", "2026-06-01", "RUN-A", 1, 0),
        ("statement.changed", "A81001", "2026-06-01", "RUN-B", 1, 1),
    ]  # fmt: skip
    assert statements[0][2]["statementId"] == statements[1][2]["statementId"]


async def test_an_anomaly_is_raised_then_resolved_once_each(
    app: FastAPI, make_practice: Any, make_line: Any, make_list_size: Any
) -> None:
    await make_practice(ods_code="A81001", lmc_code="kernow")
    # Paid twice: a duplicate, raised; the repeat taken back, resolved.
    await make_line(period=date(2026, 1, 1), component=Component.OTHER, amount=50_00)
    await make_line(period=date(2026, 1, 1), component=Component.OTHER, amount=50_00)

    async with app.state.sessionmaker.begin() as session:
        await service.sync_anomalies(session, ["A81001"], today=date(2026, 2, 10))
        await service.sync_anomalies(session, ["A81001"], today=date(2026, 2, 10))
    raised = [e for e in await outbox(app) if e[0] == "anomaly.raised"]
    await make_line(
        period=date(2026, 1, 1), component=Component.OTHER, amount=50_00,
        status=ChainStatus.REVERSED,
    )  # fmt: skip
    async with app.state.sessionmaker.begin() as session:
        await service.sync_anomalies(session, ["A81001"], today=date(2026, 2, 10))
    events = await outbox(app)

    assert raised, "an anomaly was raised"
    assert all(key == "A81001" and payload["lmcCode"] == "kernow" for _, key, payload in raised)
    duplicate = next(p for _, _, p in raised if p["kind"] == "DUPLICATE")
    assert (duplicate["component"], duplicate["amountAtStake"], duplicate["resolvedAt"]) == (
        "OTHER",
        "50.00",
        None,
    )
    resolved = [p for t, _, p in events if t == "anomaly.resolved"]
    assert [p["anomalyId"] for p in resolved if p["kind"] == "DUPLICATE"] == [
        duplicate["anomalyId"]
    ]
    # Detected again unchanged: nothing new published.
    assert len([e for e in events if e[0] == "anomaly.raised"]) == len(raised)
