"""Disputes about anything a practice is owed: dated from when PCSE first heard of them,
escalated from day 41 with a CAS reference, addressed to the commissioner with their
contractual basis, with attachments kept by their SHA-256, and the LMC's pack.

Every date and figure below is written out by hand from the published rules (PCSE's escalation
process: more than 40 days since first raised, with a CAS number), not from the code's own."""

from __future__ import annotations

import base64
import json
from datetime import date
from typing import TYPE_CHECKING, Any

import pytest
from payments.disputes import rules, service
from payments.models import (
    AuditEvent,
    ClaimState,
    Component,
    Dispute,
    DisputeAttachment,
    DisputeEvent,
    DisputeEventKind,
    PracticeClaim,
    PracticeDirectory,
)
from pcse_kit.auth import Forbidden, Principal, Role
from pcse_kit.errors import BadUserInput
from pcse_kit.testing import Token, graphql
from sqlalchemy import func, select, update

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

MANAGER = Principal(subject="manager@a81001", role=Role.PRACTICE, scope=frozenset({"A81001"}))
OTHER = Principal(subject="manager@b82002", role=Role.PRACTICE, scope=frozenset({"B82002"}))


def codes(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["extensions"]["code"], e["extensions"].get("field")) for e in body["errors"]]


@pytest.fixture
async def claim(app: FastAPI, make_practice: Any, client: httpx.AsyncClient) -> int:
    """A81001 (kernow, GMS, ICB QT6) with an approved enhanced-service claim: £1,234.50 for
    September 2026, approved 15 September 2026 and never paid. B82002 is in essex. (``client``
    empties the tables after the test.)"""
    await make_practice(ods_code="A81001", lmc_code="kernow")
    await make_practice(ods_code="B82002", lmc_code="essex")
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            update(PracticeDirectory)
            .where(PracticeDirectory.ods_code == "A81001")
            .values(icb_code="QT6")
        )
        row = PracticeClaim(
            ods_code="A81001", reference="ES-2026-09", component=Component.ENHANCED_SERVICE,
            paycode=None, description="Childhood immunisations, September 2026",
            covers_from=date(2026, 9, 1), covers_to=date(2026, 9, 30), amount_pence=1_234_50,
            claimed_on=date(2026, 9, 5), approved_on=date(2026, 9, 15),
            state=ClaimState.APPROVED,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        claim_id: int = row.id
    return claim_id


async def _open(app: FastAPI, claim: int, **changes: Any) -> str:
    arguments: dict[str, Any] = {
        "ods_code": "A81001", "line_id": None, "anomaly_id": None, "claim_id": claim,
        "item": None, "amount_claimed_pence": None,
        "subject": "Approved September immunisations claim not paid",
        "raised_on": date(2026, 10, 1), "cas_reference": None, "health_service_body": False,
        "idempotency_key": "dispute-claim-1", "today": date(2026, 10, 6),
    }  # fmt: skip
    arguments.update(changes)
    written = await service.open_dispute(app.state.sessionmaker, MANAGER, **arguments)
    return written.key


async def _escalate(app: FastAPI, reference: str, on: date, key: str) -> None:
    await service.escalate_dispute(
        app.state.sessionmaker, MANAGER, reference=reference, note=None, idempotency_key=key,
        today=on,
    )  # fmt: skip


async def test_the_clock_runs_from_the_day_it_was_first_raised_and_opens_on_day_41(
    app: FastAPI, claim: int, client: httpx.AsyncClient
) -> None:
    # Raised with PCSE on 1 October 2026, typed in here on 6 October.
    reference = await _open(app, claim)
    await service.add_dispute_event(
        app.state.sessionmaker, MANAGER, reference=reference, kind=DisputeEventKind.RECEIPT,
        occurred_on=date(2026, 10, 2), note="PCSE read the enquiry",
        evidence=[("Read receipt", "Read: 2 Oct 2026 09:14")], cas_reference="cas-20261-q7k2m9",
        idempotency_key="dispute-receipt-1", today=date(2026, 10, 6),
    )  # fmt: skip
    # A step before the query was first raised is refused, and nothing is written.
    with pytest.raises(BadUserInput) as before:
        await service.add_dispute_event(
            app.state.sessionmaker, MANAGER, reference=reference, kind=DisputeEventKind.SENT,
            occurred_on=date(2026, 9, 30), note="Too early", evidence=[], cas_reference=None,
            idempotency_key="dispute-early-1", today=date(2026, 10, 6),
        )  # fmt: skip
    assert before.value.field == "occurredOn"

    # 1 Oct + 35 days = 5 Nov (day 35); + 40 = 10 Nov (day 40): refused. 11 Nov is day 41.
    for on, day in ((date(2026, 11, 5), 35), (date(2026, 11, 10), 40)):
        with pytest.raises(BadUserInput) as early:
            await _escalate(app, reference, on, f"escalate-day-{day}")
        assert early.value.field == "reference"
        assert "from 2026-11-11, day 41" in early.value.message
        assert f"Today is day {day}." in early.value.message
    await _escalate(app, reference, date(2026, 11, 11), "escalate-day-41")
    # A replay with the same key changes nothing.
    await _escalate(app, reference, date(2026, 11, 11), "escalate-day-41")

    async with app.state.sessionmaker() as session:
        dispute = await session.scalar(select(Dispute).where(Dispute.reference == reference))
        assert dispute is not None
        assert (dispute.raised_on, dispute.escalated_on) == (date(2026, 10, 1), date(2026, 11, 11))
        assert dispute.cas_reference == "CAS-20261-Q7K2M9"
        steps = list(
            await session.scalars(
                select(DisputeEvent.kind)
                .where(DisputeEvent.dispute_id == dispute.id)
                .order_by(DisputeEvent.id)
            )
        )
        escalations = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.c.action == "escalate_dispute")
        )
    assert steps == [DisputeEventKind.OPENED, DisputeEventKind.RECEIPT, DisputeEventKind.ESCALATED]
    assert escalations == 1
    with pytest.raises(Exception, match="escalated on 2026-11-11"):
        await _escalate(app, reference, date(2026, 11, 12), "escalate-again")


async def test_escalation_needs_the_cas_reference_and_the_practice_itself(
    app: FastAPI, claim: int
) -> None:
    reference = await _open(app, claim, raised_on=date(2026, 9, 20))
    with pytest.raises(BadUserInput) as missing:
        await _escalate(app, reference, date(2026, 11, 11), "escalate-no-cas")
    assert missing.value.field == "casReference"
    with pytest.raises(Forbidden):
        await service.escalate_dispute(
            app.state.sessionmaker, OTHER, reference=reference, note=None,
            idempotency_key="escalate-other", today=date(2026, 11, 11),
        )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"raised_on": date(2026, 10, 7)}, "raisedOn"),  # the day after today
        ({"raised_on": date(2015, 8, 31)}, "raisedOn"),  # before PCSE began
        ({"cas_reference": "CAS-0000123"}, "casReference"),  # no six-character suffix
        ({"cas_reference": "12345-ABCDEF"}, "casReference"),
        ({"claim_id": None}, "lineId"),  # about nothing
        ({"line_id": 1}, "lineId"),  # about two things
        ({"amount_claimed_pence": 0}, "amountClaimed"),
        ({"subject": "   "}, "subject"),
    ],
)
async def test_bad_input_is_refused_with_its_field_and_nothing_is_written(
    app: FastAPI, claim: int, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(BadUserInput) as refused:
        await _open(app, claim, **change)
    assert refused.value.field == field
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Dispute)) == 0


async def test_an_item_nothing_here_records_can_be_disputed_with_its_amount(
    app: FastAPI, claim: int, client: httpx.AsyncClient, token: Token
) -> None:
    practice = token("practice", ["A81001"], subject="manager@a81001")
    body = await graphql(
        client,
        """mutation { openDispute(input: {odsCode: "A81001",
            item: {component: TRAINING_GRANT, amountClaimed: "816.17"},
            subject: "Trainer's grant for October not paid", raisedOn: "2026-11-20",
            casReference: "CAS-20344-K9P1Z0", idempotencyKey: "dispute-item-1"}) {
          reference raisedOn casReference component amountClaimed escalatableOn } }""",
        token=practice,
    )
    opened = body["data"]["openDispute"]
    # 20 Nov + 41 days = 31 Dec 2026.
    assert opened["escalatableOn"] == "2026-12-31"
    assert (opened["component"], opened["amountClaimed"]) == ("TRAINING_GRANT", "816.17")
    found = await graphql(
        client,
        '{ practicePayments(odsCode: "A81001") { disputes(casReference: "cas-20344-k9p1z0") '
        "{ reference } } }",
        token=practice,
    )
    assert found["data"]["practicePayments"]["disputes"] == [{"reference": opened["reference"]}]
    refused = await graphql(
        client,
        '{ practicePayments(odsCode: "A81001") { disputes(casReference: "CAS-1") { reference } } }',
        token=practice,
    )
    assert codes(refused) == [("BAD_USER_INPUT", "casReference")]


ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
"""SHA-256 of the three bytes "abc" (FIPS 180-2, appendix B.1)."""

ATTACH = """
mutation ($ref: String!, $type: String!, $content: String!, $key: String!, $step: ID) {
  attachDisputeEvidence(input: {reference: $ref, stepId: $step, fileName: "receipt.txt",
      mediaType: $type, content: $content, idempotencyKey: $key}) {
    attachments { fileName mediaType sizeBytes sha256 stepId }
  }
}
"""


async def test_attachments_are_kept_by_their_hash_and_refused_over_the_limits(
    app: FastAPI, claim: int, client: httpx.AsyncClient, token: Token
) -> None:
    practice = token("practice", ["A81001"], subject="manager@a81001")
    reference = await _open(app, claim)
    async with app.state.sessionmaker() as session:
        step = await session.scalar(select(DisputeEvent.id))
    kept = await graphql(
        client,
        ATTACH,
        {"ref": reference, "type": "text/plain", "content": base64.b64encode(b"abc").decode(),
         "key": "attach-1", "step": str(step)},
        token=practice,
    )  # fmt: skip
    assert kept["data"]["attachDisputeEvidence"]["attachments"] == [
        {"fileName": "receipt.txt", "mediaType": "text/plain", "sizeBytes": 3,
         "sha256": ABC_SHA256, "stepId": str(step)}
    ]  # fmt: skip

    over = base64.b64encode(b"%PDF-" + b"x" * (2 * 1024 * 1024 - 4)).decode()  # 2 MiB + 1
    for content, media_type, field in (
        (over, "application/pdf", "content"),
        (base64.b64encode(b"PK\x03\x04").decode(), "application/zip", "mediaType"),
        (base64.b64encode(b"\x89PNG\r\n\x1a\n").decode(), "application/pdf", "content"),
        ("not base64!", "text/plain", "content"),
        (base64.b64encode(b"\xff\xfe").decode(), "text/plain", "content"),
    ):
        refused = await graphql(
            client,
            ATTACH,
            {"ref": reference, "type": media_type, "content": content, "key": "attach-bad-x1"},
            token=practice,
        )
        assert codes(refused) == [("BAD_USER_INPUT", field)], refused
    other = token("practice", ["B82002"])
    forbidden = await graphql(
        client,
        ATTACH,
        {"ref": reference, "type": "text/plain", "content": "YWJj", "key": "attach-other"},
        token=other,
    )
    assert codes(forbidden) == [("FORBIDDEN", None)]
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(DisputeAttachment)) == 1


ESCALATIONS = """
query ($code: String!) { _entities(representations: [{__typename: "Lmc", code: $code}]) {
  ... on Lmc { disputeEscalations(first: 10) { reference escalatedOn casReference
    escalationPack escalationPackPdf latePaymentNotice remedies { route } } } } }
"""


async def test_the_lmc_sees_its_practices_escalations_with_a_pack_and_no_other_lmc_does(
    app: FastAPI, claim: int, client: httpx.AsyncClient, token: Token
) -> None:
    reference = await _open(app, claim, cas_reference="CAS-20261-Q7K2M9")
    async with app.state.sessionmaker.begin() as session:
        step = await session.scalar(select(DisputeEvent.id))
        session.add(
            DisputeAttachment(
                dispute_id=1, event_id=step, file_name="enquiry.txt", media_type="text/plain",
                size_bytes=3, sha256=ABC_SHA256, content=b"abc", uploaded_by="manager@a81001",
            )
        )  # fmt: skip
    await _escalate(app, reference, date(2026, 11, 11), "escalate-pack")

    kernow = await graphql(client, ESCALATIONS, {"code": "kernow"}, token=token("lmc", ["kernow"]))
    [escalation] = kernow["data"]["_entities"][0]["disputeEscalations"]
    assert (escalation["reference"], escalation["escalatedOn"]) == (reference, "2026-11-11")
    pack = escalation["escalationPack"]
    assert pack["casReference"] == "CAS-20261-Q7K2M9"
    assert pack["practice"] == {
        "odsCode": "A81001", "name": "Practice A81001", "contractType": "GMS",
        "icbCode": "QT6", "lmcCode": "kernow", "healthServiceBody": False,
    }  # fmt: skip
    assert pack["amount"] == {
        "pence": 123450,
        "pounds": "£1,234.50",
        "direction": "OWED_TO_PRACTICE",
    }
    assert pack["dates"]["raisedOn"] == "2026-10-01"
    assert pack["dates"]["escalatableOn"] == "2026-11-11"
    assert pack["dates"]["escalatedOn"] == "2026-11-11"
    assert pack["addressee"]["to"].startswith("the Integrated Care Board QT6")
    assert "NHS Act 2006 s87" in pack["contractualBasis"]
    # A contractor that is not a health service body: NHS dispute resolution, and the courts.
    assert [r["route"].split(":")[0] for r in pack["remedies"]] == [
        "NHS dispute resolution",
        "the civil courts, for breach of contract (a claim for the money owed)",
    ]
    assert [s["kind"] for s in pack["timeline"]] == ["OPENED", "ESCALATED"]
    assert pack["timeline"][0]["attachments"][0]["sha256"] == ABC_SHA256
    assert json.loads(json.dumps(pack)) == pack
    assert base64.b64decode(escalation["escalationPackPdf"]).startswith(b"%PDF-")
    notice = escalation["latePaymentNotice"]
    for expected in ("To: the Integrated Care Board QT6", "PCSE case reference: CAS-20261-Q7K2M9",
                     "first raised this with PCSE on 2026-10-01", "£1,234.50",
                     "Primary Care Appeals", "civil courts"):  # fmt: skip
        assert expected in notice, expected

    essex = await graphql(client, ESCALATIONS, {"code": "essex"}, token=token("lmc", ["essex"]))
    assert essex["data"]["_entities"][0]["disputeEscalations"] == []
    other = await graphql(client, ESCALATIONS, {"code": "kernow"}, token=token("lmc", ["essex"]))
    assert codes(other) == [("FORBIDDEN", None)]
    practice = await graphql(
        client, ESCALATIONS, {"code": "kernow"}, token=token("practice", ["A81001"])
    )
    assert codes(practice) == [("FORBIDDEN", None)]


def test_the_routes_follow_the_contract_and_the_health_service_body_election() -> None:
    nhs, court = "NHS dispute resolution", "the civil courts"

    def routes(contract: str | None, hsb: bool | None) -> list[str]:
        return [r.route.split(":")[0].split(",")[0] for r in rules.remedies(contract, hsb)]

    assert routes("GMS", True) == [nhs]  # an NHS contract: not enforceable in the courts
    assert routes("GMS", False) == [nhs, court]
    assert routes("PMS", False) == [nhs, court]
    assert routes("GMS", None) == [nhs, court]  # the courts only if not an NHS body: said so
    assert "only if the contractor did not elect" in rules.remedies("GMS", None)[1].basis
    assert routes("APMS", True) == [nhs]
    assert "SSP Health" in rules.remedies("APMS", None)[0].source


@pytest.mark.parametrize(
    ("raised", "escalatable"),
    [
        (date(2026, 10, 1), date(2026, 11, 11)),  # 30 days left in October + 11
        (date(2026, 1, 20), date(2026, 3, 2)),  # 11 left in January + 28 in February + 2
        (date(2024, 1, 20), date(2024, 3, 1)),  # a leap year: 11 + 29 + 1
    ],
)
def test_escalation_opens_on_day_41(raised: date, escalatable: date) -> None:
    dispute = Dispute(raised_on=raised, resolved_at=None)
    assert rules.escalatable_on(dispute, days=40) == escalatable
    assert not rules.escalatable(
        dispute, today=date.fromordinal(escalatable.toordinal() - 1), days=40
    )
    assert rules.escalatable(dispute, today=escalatable, days=40)


@pytest.mark.parametrize(
    ("given", "kept"),
    [("CAS-2107-448120", "CAS-2107-448120"), (" cas-01234-a1b2c3 ", "CAS-01234-A1B2C3")],
)
def test_a_cas_reference_is_kept_as_pcse_writes_it(given: str, kept: str) -> None:
    assert rules.cas_reference(given) == kept
