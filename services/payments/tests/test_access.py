"""Who may see payments, accountant consent, the audit trail and idempotent mutations."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from payments.models import AccountantConsent, AuditEvent
from pcse_kit.auth import SigningKey
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
