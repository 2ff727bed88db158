"""Who may see payments, accountant consent, the audit trail and idempotent mutations."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from payments.directory import consumer as directory
from payments.models import AccountantConsent, AuditEvent, PensionEstimate
from payments.rates import financial_year
from pcse_kit.auth import SigningKey
from pcse_kit.dates import today
from pcse_kit.events import Event
from pcse_kit.testing import TEST_AUDIENCE, TEST_ISSUER, Token, graphql, owner_engine
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

PRACTICE_PAYMENTS = """
query ($ods: String!) { practicePayments(odsCode: $ods) { statements { nodes { period net } } } }
"""
GRANT = """
mutation ($ods: String!, $acct: String!, $key: String!) {
  grantAccountantConsent(input: {odsCode: $ods, accountantId: $acct, idempotencyKey: $key}) {
    odsCode accountantId grantedBy active
  }
}
"""
REVOKE = GRANT.replace("grantAccountantConsent", "revokeAccountantConsent")


def forbidden(body: dict[str, Any]) -> bool:
    return [e["extensions"]["code"] for e in body.get("errors", [])] == ["FORBIDDEN"]


async def test_a_practice_sees_its_own_payments_and_not_another_practices(
    make_statement: Any, client: httpx.AsyncClient, token: Token
) -> None:
    await make_statement(ods_code="A81001")
    await make_statement(ods_code="B82002")
    own = token("practice", ["A81001"])

    mine = await graphql(client, PRACTICE_PAYMENTS, {"ods": "A81001"}, token=own)
    theirs = await graphql(client, PRACTICE_PAYMENTS, {"ods": "B82002"}, token=own)
    nowhere = await graphql(client, PRACTICE_PAYMENTS, {"ods": "Z99999"}, token=own)

    assert len(mine["data"]["practicePayments"]["statements"]["nodes"]) == 1
    # Refused the same way whether or not the practice exists.
    assert forbidden(theirs)
    assert forbidden(nowhere)
    assert theirs["errors"][0]["message"] == nowhere["errors"][0]["message"]


async def test_a_forged_entities_call_resolves_nothing_for_another_practice(
    make_statement: Any, client: httpx.AsyncClient, token: Token
) -> None:
    await make_statement(ods_code="B82002")
    query = """
    query ($reps: [_Any!]!) {
      _entities(representations: $reps) {
        ... on Practice { odsCode payments { statements { nodes { net } } } }
      }
    }
    """
    reps = [
        {"__typename": "Practice", "odsCode": "A81001"},
        {"__typename": "Practice", "odsCode": "B82002"},
    ]

    body = await graphql(client, query, {"reps": reps}, token=token("practice", ["A81001"]))

    assert body["data"]["_entities"][0]["odsCode"] == "A81001"
    assert body["data"]["_entities"][1] is None
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
        (["_entities", 1], "FORBIDDEN")
    ]


@pytest.mark.parametrize("role", ["lmc", "operator"])
async def test_lmcs_and_other_domains_operators_see_no_practice_payments(
    client: httpx.AsyncClient, token: Token, role: str
) -> None:
    scope = {"lmc": ["kernow"], "operator": ["records", "performers"]}[role]
    body = await graphql(client, PRACTICE_PAYMENTS, {"ods": "A81001"}, token=token(role, scope))
    assert forbidden(body)


async def test_an_accountant_sees_payments_from_consent_until_revocation(
    app: FastAPI, make_statement: Any, client: httpx.AsyncClient, token: Token
) -> None:
    await make_statement(ods_code="A81001")
    practice = token("practice", ["A81001"], subject="manager@a81001")
    accountant = token("accountant", subject="acct-42")
    variables = {"ods": "A81001", "acct": "acct-42"}

    before = await graphql(client, PRACTICE_PAYMENTS, {"ods": "A81001"}, token=accountant)
    granted = await graphql(client, GRANT, {**variables, "key": "grant-0001"}, token=practice)
    during = await graphql(client, PRACTICE_PAYMENTS, {"ods": "A81001"}, token=accountant)
    revoked = await graphql(client, REVOKE, {**variables, "key": "revoke-0001"}, token=practice)
    after = await graphql(client, PRACTICE_PAYMENTS, {"ods": "A81001"}, token=accountant)

    assert forbidden(before)
    assert granted["data"]["grantAccountantConsent"] == {
        "odsCode": "A81001",
        "accountantId": "acct-42",
        "grantedBy": "manager@a81001",
        "active": True,
    }
    assert len(during["data"]["practicePayments"]["statements"]["nodes"]) == 1
    assert revoked["data"]["revokeAccountantConsent"]["active"] is False
    assert forbidden(after)
    # Every grant and revoke is on record, with the values before and after.
    async with app.state.sessionmaker() as session:
        events = (await session.execute(select(AuditEvent).order_by(AuditEvent.c.id))).all()
    assert [(e.action, e.actor_subject, e.actor_role) for e in events] == [
        ("grant", "manager@a81001", "practice"),
        ("revoke", "manager@a81001", "practice"),
    ]
    assert events[0].before is None
    assert events[0].after["revoked_at"] is None
    assert events[1].before == events[0].after
    assert events[1].after["revoked_by"] == "manager@a81001"


DECLARE = """
mutation ($key: String!) {
  recordQofDeclaration(input: {odsCode: "A81001", financialYear: 2024, achievement: "1000.00",
      state: APPROVED, approvedOn: "2025-05-14", idempotencyKey: $key}) {
    qofDeclarations { label }
  }
}
"""


async def test_a_replay_by_an_accountant_whose_consent_was_revoked_is_refused(
    make_practice: Any, client: httpx.AsyncClient, token: Token
) -> None:
    await make_practice(ods_code="A81001")
    practice = token("practice", ["A81001"], subject="manager@a81001")
    accountant = token("accountant", subject="acct-42")
    consent = {"ods": "A81001", "acct": "acct-42"}

    await graphql(client, GRANT, {**consent, "key": "grant-0002"}, token=practice)
    first = await graphql(client, DECLARE, {"key": "declare-0001"}, token=accountant)
    replay = await graphql(client, DECLARE, {"key": "declare-0001"}, token=accountant)
    await graphql(client, REVOKE, {**consent, "key": "revoke-0002"}, token=practice)
    after = await graphql(client, DECLARE, {"key": "declare-0001"}, token=accountant)

    assert "errors" not in first, first
    assert replay["data"] == first["data"]
    # The stored response is not handed back: the right is checked again, in the transaction.
    assert forbidden(after)


async def test_the_audit_trail_cannot_be_edited(
    app: FastAPI, client: httpx.AsyncClient, token: Token
) -> None:
    practice = token("practice", ["A81001"])
    await graphql(
        client, GRANT, {"ods": "A81001", "acct": "a1", "key": "k-00000001"}, token=practice
    )

    for statement in (
        "UPDATE audit_event SET actor_subject = 'someone else'",
        "DELETE FROM audit_event",
    ):
        # As the tables' owner: the service's own role may not even try (test_audit_trail.py).
        async with owner_engine(app).begin() as connection:
            with pytest.raises(DBAPIError, match="append-only"):
                await connection.execute(text(statement))


async def test_a_practice_cannot_grant_for_another_practice(
    app: FastAPI, client: httpx.AsyncClient, token: Token
) -> None:
    body = await graphql(
        client,
        GRANT,
        {"ods": "B82002", "acct": "acct-42", "key": "grant-0002"},
        token=token("practice", ["A81001"]),
    )
    assert forbidden(body)
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(AccountantConsent)) == 0
        assert await session.scalar(select(func.count()).select_from(AuditEvent)) == 0


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"ods": "A8100", "acct": "acct-42", "key": "grant-0003"}, "odsCode"),
        ({"ods": "A81001", "acct": "", "key": "grant-0003"}, "accountantId"),
        ({"ods": "A81001", "acct": "acct 42", "key": "grant-0003"}, "accountantId"),
        ({"ods": "A81001", "acct": "acct-42", "key": "short"}, "idempotencyKey"),
    ],
)
async def test_bad_input_is_a_typed_error_and_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient, token: Token, variables: dict[str, str], field: str
) -> None:
    body = await graphql(client, GRANT, variables, token=token("practice", ["A81001"]))
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEvent)) == 0


async def test_revoking_what_was_never_granted_is_a_conflict(
    client: httpx.AsyncClient, token: Token
) -> None:
    body = await graphql(
        client,
        REVOKE,
        {"ods": "A81001", "acct": "acct-42", "key": "revoke-0002"},
        token=token("practice", ["A81001"]),
    )
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"


async def test_a_hundred_concurrent_replays_have_exactly_one_effect(
    app: FastAPI, client: httpx.AsyncClient, token: Token
) -> None:
    practice = token("practice", ["A81001"])
    variables = {"ods": "A81001", "acct": "acct-42", "key": "grant-concurrent-1"}

    bodies = await asyncio.gather(
        *(graphql(client, GRANT, variables, token=practice) for _ in range(100))
    )

    assert all("errors" not in body for body in bodies)
    assert len({str(body["data"]) for body in bodies}) == 1
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(AccountantConsent)) == 1
        assert await session.scalar(select(func.count()).select_from(AuditEvent)) == 1


async def test_one_key_for_two_different_requests_is_refused(
    client: httpx.AsyncClient, token: Token
) -> None:
    practice = token("practice", ["A81001"])
    await graphql(
        client, GRANT, {"ods": "A81001", "acct": "a1", "key": "k-00000002"}, token=practice
    )
    body = await graphql(
        client, GRANT, {"ods": "A81001", "acct": "a2", "key": "k-00000002"}, token=practice
    )
    assert body["errors"][0]["extensions"] == {"code": "CONFLICT", "field": "idempotencyKey"}


@pytest.mark.parametrize("case", ["none", "garbage", "expired", "foreign key", "wrong audience"])
async def test_a_request_without_a_valid_token_is_refused(
    client: httpx.AsyncClient, token: Token, case: str
) -> None:
    stranger = SigningKey.generate().sign(
        subject="x", role="admin", issuer=TEST_ISSUER, audience=TEST_AUDIENCE
    )
    header = {
        "none": None,
        "garbage": "Bearer not.a.jwt",
        "expired": f"Bearer {token('admin', ttl_seconds=-3600)}",
        "foreign key": f"Bearer {stranger}",
        "wrong audience": f"Bearer {token('admin', audience='someone-else')}",
    }[case]
    headers = {} if header is None else {"authorization": header}
    del client.headers["authorization"]

    response = await client.post("/graphql", json={"query": "{ __typename }"}, headers=headers)

    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}


ESTIMATE = """
mutation ($gmc: String!, $year: Int!, $key: String!, $on: Date!) {
  recordPensionEstimate(input: {gmcNumber: $gmc, odsCode: "A81001", financialYear: $year,
      pensionablePay: "90000.00", submittedOn: $on, idempotencyKey: $key}) {
    gmcNumber
  }
}
"""


async def _estimates_and_their_audit(app: FastAPI) -> tuple[int, int]:
    async with app.state.sessionmaker() as session:
        estimates = await session.scalar(select(func.count()).select_from(PensionEstimate))
        audited = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.c.action == "record_pension_estimate")
        )
    return int(estimates or 0), int(audited or 0)


async def test_a_practice_records_an_estimate_only_for_a_gp_who_works_there(
    app: FastAPI,
    make_practice: Any,
    make_membership: Any,
    client: httpx.AsyncClient,
    token: Token,
) -> None:
    await make_practice(ods_code="A81001")
    await make_practice(ods_code="B82002", lmc_code="essex")
    await make_membership(gmc_number="1234567", ods_code="A81001")  # a partner since 2015
    await make_membership(gmc_number="7654321", ods_code="B82002")  # another practice's GP
    # Left A81001 at the end of March 2024: the post covered 2023/24, and has ended.
    await make_membership(gmc_number="2222222", ods_code="A81001", end=date(2024, 3, 31))
    practice = token("practice", ["A81001"])
    year = financial_year(today())
    now = today().isoformat()

    mine = {"gmc": "1234567", "year": year, "key": "estimate-own", "on": now}
    own = await graphql(client, ESTIMATE, mine, token=practice)
    asked = [("7654321", year), ("9999999", year), ("2222222", year), ("2222222", 2023)]
    refused = {
        (gmc, y): await graphql(
            client,
            ESTIMATE,
            {"gmc": gmc, "year": y, "key": f"estimate-{gmc}-{y}", "on": now},
            token=practice,
        )
        for gmc, y in asked
    }

    assert "errors" not in own, own
    for asking, body in refused.items():
        assert forbidden(body), (asking, body)
        assert body["data"] is None
    # Whether the GP exists, elsewhere or nowhere, the refusal reads the same.
    assert len({body["errors"][0]["message"] for body in refused.values()}) == 1
    assert await _estimates_and_their_audit(app) == (1, 1)
    # This domain's operators record for any GP (PCSE itself keys estimates in).
    operator = await graphql(
        client, ESTIMATE, {"gmc": "7654321", "year": year, "key": "estimate-operator", "on": now},
        token=token("operator", ["payments"]),
    )  # fmt: skip
    assert "errors" not in operator, operator
    assert await _estimates_and_their_audit(app) == (2, 2)


async def test_a_replayed_estimate_is_refused_once_the_gp_has_left(
    app: FastAPI, make_practice: Any, client: httpx.AsyncClient, token: Token
) -> None:
    await make_practice(ods_code="A81001")
    membership = {
        "membershipId": 91, "gmcNumber": "1234567", "odsCode": "A81001", "role": "salaried",
        "startDate": "2020-01-01", "endDate": None,
    }  # fmt: skip
    async with app.state.sessionmaker.begin() as session:
        await directory.apply(session, _event("membership.started", membership))
    practice = token("practice", ["A81001"])
    variables = {
        "gmc": "1234567", "year": financial_year(today()), "key": "estimate-replayed",
        "on": today().isoformat(),
    }  # fmt: skip

    first = await graphql(client, ESTIMATE, variables, token=practice)
    replay = await graphql(client, ESTIMATE, variables, token=practice)
    assert "errors" not in first, first
    assert replay == first
    # The GP leaves: the performers list publishes the end of the post, yesterday.
    left = {**membership, "endDate": (today() - timedelta(days=1)).isoformat()}
    async with app.state.sessionmaker.begin() as session:
        await directory.apply(session, _event("membership.ended", left))
    after = await graphql(client, ESTIMATE, variables, token=practice)

    assert forbidden(after), after
    assert after["data"] is None
    assert await _estimates_and_their_audit(app) == (1, 1)


def _event(type_: str, payload: dict[str, Any]) -> Event:
    return Event(
        event_id=uuid.uuid4(), stream="performers", type=type_, key="k", payload=payload,
        occurred_at=datetime.now(UTC), position=1,
    )  # fmt: skip


REFRESH = """
mutation ($codes: [String!]) { refreshAnomalies(odsCodes: $codes) { opened resolved open } }
"""


async def test_a_refresh_is_in_the_audit_trail_with_what_it_changed(
    app: FastAPI, make_practice: Any, make_statement: Any, client: httpx.AsyncClient, token: Token
) -> None:
    await make_practice(ods_code="A81001")
    await make_statement(ods_code="A81001")
    operator = token("operator", ["payments"], subject="ops@pcse")

    named = await graphql(client, REFRESH, {"codes": ["A81001", "A81001"]}, token=operator)
    everyone = await graphql(client, REFRESH, {"codes": None}, token=operator)

    assert "errors" not in named, named
    assert "errors" not in everyone, everyone
    async with app.state.sessionmaker() as session:
        rows = (
            await session.execute(
                select(AuditEvent)
                .where(AuditEvent.c.action == "refresh_anomalies")
                .order_by(AuditEvent.c.id)
            )
        ).all()
    assert [(r.actor_subject, r.actor_role, r.entity, r.entity_key) for r in rows] == [
        ("ops@pcse", "operator", "anomaly", "the practices named"),
        ("ops@pcse", "operator", "anomaly", "every practice with a statement"),
    ]
    first, second = rows[0].after, rows[1].after
    # The same practice named twice is refreshed once.
    assert first["odsCodes"] == ["A81001"]
    assert first["practices"] == 1
    assert second["odsCodes"] is None
    assert second["practices"] == 1
    assert first["asOf"] == today().isoformat()
    result = named["data"]["refreshAnomalies"]
    assert (first["opened"], first["resolved"], first["open"]) == (
        result["opened"], result["resolved"], result["open"],
    )  # fmt: skip


@pytest.mark.parametrize(
    "codes",
    [["A81001"] * 1001, ["not a code"] * 1001],
    ids=["1,001 practices", "1,001 of anything"],
)
async def test_a_refresh_naming_too_many_practices_is_refused_before_reading_them(
    app: FastAPI, client: httpx.AsyncClient, token: Token, codes: list[str]
) -> None:
    body = await graphql(client, REFRESH, {"codes": codes}, token=token("operator", ["payments"]))

    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "odsCodes"}
    assert error["message"] == "At most 1,000 practices at a time."
    async with app.state.sessionmaker() as session:
        audited = await session.scalar(select(func.count()).select_from(AuditEvent))
    assert audited == 0


LOCUM_FORM = """
mutation ($on: Date!, $from: Date!, $key: String!) {
  recordLocumForm(input: {gmcNumber: "1234567", odsCode: "A81001", form: A, workFrom: $from,
      workTo: $from, submittedOn: $on, bacsReference: "12345678LOCJAN2026",
      pensionablePay: "500.00", idempotencyKey: $key}) { gmcNumber }
}
"""


@pytest.mark.parametrize("mutation", ["recordPensionEstimate", "recordLocumForm"])
async def test_a_practice_cannot_date_a_submission_more_than_three_days_back(
    app: FastAPI,
    make_practice: Any,
    make_membership: Any,
    client: httpx.AsyncClient,
    token: Token,
    mutation: str,
) -> None:
    """The finding: a practice could date a late form on time (a locum form is judged by the
    7th of the following month and the 10-week rule, an estimate by its deadline)."""
    await make_practice(ods_code="A81001")
    await make_membership(gmc_number="1234567", ods_code="A81001")
    now = today()
    practice = token("practice", ["A81001"])
    operator = token("operator", ["payments"])

    def send(days_back: int, who: str, key: str) -> Any:
        on = (now - timedelta(days=days_back)).isoformat()
        if mutation == "recordPensionEstimate":
            variables = {"gmc": "1234567", "year": financial_year(now), "key": key, "on": on}
            return graphql(client, ESTIMATE, variables, token=who)
        work = (now - timedelta(days=days_back + 10)).isoformat()
        return graphql(client, LOCUM_FORM, {"on": on, "from": work, "key": key}, token=who)

    four_days = await send(4, practice, "backdated-4-days")
    assert four_days["data"] is None
    [error] = four_days["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "submittedOn"}
    earliest = (now - timedelta(days=3)).isoformat()
    assert error["message"] == (
        f"`submittedOn` can be at most 3 days before today ({earliest}) when a practice "
        "records it, since the deadline is judged by it; an earlier submission is recorded by "
        "PCSE from its receipt."
    )
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEvent)) == 0

    # Three days back is a submission made on Friday and recorded on Monday.
    three_days = await send(3, practice, "backdated-3-days")
    # PCSE records an older one from its receipt.
    sixty_days = await send(60, operator, "backdated-60-days")
    assert "errors" not in three_days, three_days
    assert "errors" not in sixty_days, sixty_days


PENSIONS_OF_PRACTICE = """
query ($ods: String!) {
  practicePayments(odsCode: $ods) {
    statements { nodes { period } }
    pensions { gmcNumber pensions { years { financialYear estimateDueOn certificateStatus } } }
  }
}
"""
GRANT_SCOPED = """
mutation ($scope: ConsentScope!, $key: String!) {
  grantAccountantConsent(input: {odsCode: "A81001", accountantId: "acct-42", scope: $scope,
                                 idempotencyKey: $key}) { scope active }
}
"""


async def test_an_accountant_sees_pensions_only_with_a_consent_that_includes_them(
    app: FastAPI, make_statement: Any, client: httpx.AsyncClient, token: Token
) -> None:
    from datetime import date  # noqa: PLC0415

    from payments.models import PensionEstimate  # noqa: PLC0415

    await make_statement(ods_code="A81001")
    async with app.state.sessionmaker.begin() as session:
        session.add(
            PensionEstimate(
                gmc_number="1234567",
                ods_code="A81001",
                financial_year=2025,
                pensionable_pay_pence=100_000_00,
                submitted_on=date(2025, 4, 20),
            )
        )
    practice = token("practice", ["A81001"], subject="manager@a81001")
    accountant = token("accountant", subject="acct-42")
    variables = {"ods": "A81001"}

    # A consent granted as before, without a scope, is payments only.
    await graphql(
        client, GRANT, {"ods": "A81001", "acct": "acct-42", "key": "grant-0001"}, token=practice
    )
    payments_only = await graphql(client, PENSIONS_OF_PRACTICE, variables, token=accountant)
    wider = await graphql(
        client,
        GRANT_SCOPED,
        {"scope": "PAYMENTS_AND_PENSIONS", "key": "grant-0002"},
        token=practice,
    )
    with_pensions = await graphql(client, PENSIONS_OF_PRACTICE, variables, token=accountant)
    narrower = await graphql(
        client, GRANT_SCOPED, {"scope": "PAYMENTS", "key": "grant-0003"}, token=practice
    )
    again = await graphql(client, PENSIONS_OF_PRACTICE, variables, token=accountant)

    assert payments_only["data"]["practicePayments"]["statements"]["nodes"]
    assert payments_only["data"]["practicePayments"]["pensions"] is None
    assert forbidden(payments_only)
    assert wider["data"]["grantAccountantConsent"] == {
        "scope": "PAYMENTS_AND_PENSIONS",
        "active": True,
    }
    [gp] = with_pensions["data"]["practicePayments"]["pensions"]
    assert gp["gmcNumber"] == "1234567"
    assert 2025 in [year["financialYear"] for year in gp["pensions"]["years"]]
    assert "errors" not in with_pensions
    assert narrower["data"]["grantAccountantConsent"]["scope"] == "PAYMENTS"
    assert again["data"]["practicePayments"]["pensions"] is None
    async with app.state.sessionmaker() as session:
        actions = list(await session.scalars(select(AuditEvent.c.action).order_by(AuditEvent.c.id)))
    assert actions == ["grant", "change_scope", "change_scope"]
