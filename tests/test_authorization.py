"""Who may see what, through the real gateway: every role against every root field and every
field of the client contract, on the demo data; and every mutation against callers who may
not make it.

A new field gets its rule in its service's ``policy.py`` and a column here; a new role, a row.
Each cell is one request and says what must come back: the data, or the field null with a
FORBIDDEN error, or (without a token) UNAUTHENTICATED before anything runs.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest
from graphql import GraphQLField, GraphQLObjectType, build_ast_schema, parse, print_ast
from pcse_kit import dates

from stack import ROOT, SERVICES

if TYPE_CHECKING:
    from stack import Stack

PRACTICE = "A81001"  # in kernow
OTHER_PRACTICE = "F83424"  # in essex
PERFORMER = "9071747"  # a partner at A81001
ACCOUNTANT = "acct-matrix"
PENSIONS_ACCOUNTANT = "acct-matrix-pensions"  # consent scope PAYMENTS_AND_PENSIONS

CALLERS: dict[str, tuple[str, list[str], str | None]] = {
    # name: (role, scope, subject)
    "admin": ("admin", [], None),
    "practice": ("practice", [PRACTICE], "manager@a81001"),
    "other practice": ("practice", [OTHER_PRACTICE], None),
    "lmc": ("lmc", ["kernow"], None),
    "other lmc": ("lmc", ["essex"], None),
    "accountant": ("accountant", [], ACCOUNTANT),
    "other accountant": ("accountant", [], "acct-stranger"),
    "pensions accountant": ("accountant", [], PENSIONS_ACCOUNTANT),
    "payments operator": ("operator", ["payments"], None),
    "records operator": ("operator", ["records"], None),
    "performers operator": ("operator", ["performers"], None),
}

# field: (query, path to the value that must be there or be null)
FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "practice": (
        f'{{ practice(odsCode: "{PRACTICE}") {{ odsCode name lmc {{ code }} '
        "performers { gmcNumber name status } } }",
        ("practice",),
    ),
    "practice.payments": (
        f'{{ practice(odsCode: "{PRACTICE}") {{ payments {{ statements(first: 1) '
        "{ nodes { net lines { amount } } } } } }",
        ("practice", "payments"),
    ),
    "practice.recordMovements": (
        f'{{ practice(odsCode: "{PRACTICE}") {{ recordMovements(first: 3) '
        "{ nodes { status ageDays } } } }",
        ("practice", "recordMovements"),
    ),
    "performer": (f'{{ performer(gmcNumber: "{PERFORMER}") {{ name status }} }}', ("performer",)),
    "lmc": ('{ lmc(code: "kernow") { name practices { nodes { odsCode } } } }', ("lmc",)),
    "practices": ("{ practices(first: 100) { nodes { odsCode } } }", ("practices",)),
    "practicePayments": (
        f'{{ practicePayments(odsCode: "{PRACTICE}") {{ statements(first: 1) '
        "{ nodes { net } } } }",
        ("practicePayments",),
    ),
    "accountantConsents": (
        "{ accountantConsents { odsCode accountantId } }",
        ("accountantConsents",),
    ),
    "searchPerformers": (
        '{ searchPerformers(text: "an") { nodes { gmcNumber } } }',
        ("searchPerformers",),
    ),
    "searchPractices": (
        '{ searchPractices(text: "Surgery") { nodes { odsCode } } }',
        ("searchPractices",),
    ),
    "paycodes": ("{ paycodes { code component } }", ("paycodes",)),
    "paymentRates": ("{ paymentRates { kind scope effectiveFrom } }", ("paymentRates",)),
    "recordMovement": (
        '{ recordMovement(movementNumber: "MOVEMENT") { movementNumber status } }',
        ("recordMovement",),
    ),
    "practice.recordsBacklog": (
        f'{{ practice(odsCode: "{PRACTICE}") {{ recordsBacklog {{ __typename }} }} }}',
        ("practice", "recordsBacklog"),
    ),
    "practice.recordIncidents": (
        f'{{ practice(odsCode: "{PRACTICE}") {{ recordIncidents {{ __typename }} }} }}',
        ("practice", "recordIncidents"),
    ),
    "practice.harmReviews": (
        f'{{ practice(odsCode: "{PRACTICE}") {{ harmReviews {{ __typename }} }} }}',
        ("practice", "harmReviews"),
    ),
    "lmc.paymentsSummary": (
        '{ lmc(code: "kernow") { paymentsSummary { __typename } } }',
        ("lmc", "paymentsSummary"),
    ),
    "lmc.recordsSummary": (
        '{ lmc(code: "kernow") { recordsSummary { __typename } } }',
        ("lmc", "recordsSummary"),
    ),
    "performer.pensions": (
        f'{{ performer(gmcNumber: "{PERFORMER}") {{ pensions {{ __typename }} }} }}',
        ("performer", "pensions"),
    ),
    "lmc.summary": (
        '{ lmc(code: "kernow") { performerCounts { status count } findingCounts { kind count } '
        'changeRequestAges { open } entrantsAndLeavers(since: "2020-01-01") { nodes { kind } } } }',
        ("lmc",),
    ),
    "canStart": (
        f'{{ canStart(odsCode: "{PRACTICE}", gmcNumber: "{PERFORMER}") {{ canStart }} }}',
        ("canStart",),
    ),
    "practice.patientRegistrations": (
        f'{{ practice(odsCode: "{PRACTICE}") {{ patientRegistrations(first: 1) '
        "{ nodes { event } } } }",
        ("practice", "patientRegistrations"),
    ),
    "paymentsExport": (
        '{ paymentsExport(format: XERO, from: "2025-04-01", to: "2026-03-31", '
        f'odsCode: "{PRACTICE}") {{ net downloadPath }} }}',
        ("paymentsExport",),
    ),
    "nominalCodes": ("{ nominalCodes { component code } }", ("nominalCodes",)),
    "practicePayments.pensions": (
        f'{{ practicePayments(odsCode: "{PRACTICE}") {{ pensions {{ gmcNumber '
        "pensions { firstMissingYear years { financialYear certificateStatus blockedBy } } } } }",
        ("practicePayments", "pensions"),
    ),
    "lmc.disputeEscalations": (
        '{ lmc(code: "kernow") { disputeEscalations(first: 5) { reference } } }',
        ("lmc", "disputeEscalations"),
    ),
    "webhookSubscriptions": (
        "{ webhookSubscriptions { id kind status deliveries(first: 5) { nodes { status } } } }",
        ("webhookSubscriptions",),
    ),
}

Y, N = True, False
# Rows: callers; columns: FIELDS in order. True: the data; False: null with FORBIDDEN.
MATRIX: dict[str, tuple[bool, ...]] = {
    # Columns, in FIELDS order: practice, .payments, .recordMovements, performer, lmc,
    # practices, practicePayments, accountantConsents, searchPerformers, searchPractices,
    # paycodes, paymentRates, recordMovement, practice.recordsBacklog, .recordIncidents,
    # .harmReviews, lmc.paymentsSummary, lmc.recordsSummary, performer.pensions, lmc.summary,
    # canStart, practice.patientRegistrations, paymentsExport, nominalCodes,
    # practicePayments.pensions, lmc.disputeEscalations, webhookSubscriptions (each caller its
    # own: a list, possibly empty, for anyone who may subscribe).
    "admin":               (Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y),  # noqa: E501
    "practice":            (Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, N, N, Y, N, Y, Y, Y, Y, Y, N, Y),  # noqa: E501
    "other practice":      (N, N, N, N, N, Y, N, Y, Y, Y, Y, Y, N, N, N, N, N, N, N, N, N, N, N, Y, N, N, Y),  # noqa: E501
    "lmc":                 (Y, N, N, Y, Y, Y, N, N, Y, Y, Y, Y, N, N, N, N, Y, Y, N, Y, Y, N, N, Y, N, Y, Y),  # noqa: E501
    "other lmc":           (N, N, N, N, N, Y, N, N, Y, Y, Y, Y, N, N, N, N, N, N, N, N, N, N, N, Y, N, N, Y),  # noqa: E501
    "accountant":          (N, N, N, N, N, N, Y, Y, N, N, Y, Y, N, N, N, N, N, N, N, N, N, N, Y, Y, N, N, Y),  # noqa: E501
    "other accountant":    (N, N, N, N, N, N, N, Y, N, N, Y, Y, N, N, N, N, N, N, N, N, N, N, N, Y, N, N, Y),  # noqa: E501
    "pensions accountant": (N, N, N, N, N, N, Y, Y, N, N, Y, Y, N, N, N, N, N, N, N, N, N, N, Y, Y, Y, N, Y),  # noqa: E501
    "payments operator":   (N, N, N, N, N, N, Y, Y, N, N, Y, Y, N, N, N, N, N, N, N, N, N, N, Y, Y, Y, N, Y),  # noqa: E501
    "records operator":    (N, N, N, N, N, N, N, N, N, N, Y, Y, Y, N, N, N, N, N, N, N, N, N, N, Y, N, N, N),  # noqa: E501
    "performers operator": (Y, N, N, Y, Y, Y, N, N, Y, Y, Y, Y, N, N, N, N, N, N, N, Y, Y, N, N, Y, N, N, N),  # noqa: E501
}  # fmt: skip

CELLS = [
    pytest.param(caller, field, allowed, id=f"{caller} / {field}")
    for caller, row in MATRIX.items()
    for field, allowed in zip(FIELDS, row, strict=True)
]

# Any 10-digit run: an NHS number in any spelling the services could produce.
NHS_NUMBER = re.compile(r"(?<!\d)\d{10}(?!\d)|\d{3} \d{3} \d{4}")


def ask(stack: Stack, caller: str | None, query: str) -> httpx.Response:
    headers = {}
    if caller is not None:
        role, scope, subject = CALLERS[caller]
        headers["authorization"] = f"Bearer {stack.token(role, scope, subject=subject)}"
    return httpx.post(stack.gateway_url, json={"query": query}, headers=headers, timeout=10)


@pytest.fixture(scope="module")
def consent(stack: Stack) -> None:
    """The practice lets the matrix's accountant see its payments (idempotent: safe to rerun)."""
    mutation = (
        "mutation { grantAccountantConsent(input: "
        f'{{odsCode: "{PRACTICE}", accountantId: "{ACCOUNTANT}", '
        'idempotencyKey: "matrix-consent-1"}) { active } }'
    )
    body = ask(stack, "practice", mutation).json()
    assert body == {"data": {"grantAccountantConsent": {"active": True}}}
    # Another accountant, with pensions too: it sees the GP's pension at the practice.
    wider = (
        "mutation { grantAccountantConsent(input: "
        f'{{odsCode: "{PRACTICE}", accountantId: "{PENSIONS_ACCOUNTANT}", '
        'scope: PAYMENTS_AND_PENSIONS, idempotencyKey: "matrix-consent-2"}) { active scope } }'
    )
    body = ask(stack, "practice", wider).json()
    assert body == {
        "data": {"grantAccountantConsent": {"active": True, "scope": "PAYMENTS_AND_PENSIONS"}}
    }


def value_at(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if data is None:
            return None
        data = data[key]
    return data


@pytest.fixture(scope="module")
def movement(stack: Stack) -> str:
    """A demo movement with A81001 at one end, for the recordMovement column."""
    body = ask(
        stack,
        "admin",
        f'{{ practice(odsCode: "{PRACTICE}") {{ recordMovements(first: 1) '
        "{ nodes { movementNumber } } } }",
    ).json()
    number: str = body["data"]["practice"]["recordMovements"]["nodes"][0]["movementNumber"]
    return number


@pytest.mark.usefixtures("consent")
@pytest.mark.parametrize(("caller", "field", "allowed"), CELLS)
def test_authorization_matrix(
    stack: Stack, movement: str, caller: str, field: str, allowed: bool
) -> None:
    query, path = FIELDS[field]
    body = ask(stack, caller, query.replace("MOVEMENT", movement)).json()

    codes = [error.get("extensions", {}).get("code") for error in body.get("errors", [])]
    if allowed:
        assert codes == [], body
        assert value_at(body["data"], path) is not None
    else:
        assert value_at(body.get("data"), path) is None
        assert codes, body
        assert set(codes) == {"FORBIDDEN"}, body


@pytest.mark.parametrize("field", list(FIELDS))
def test_no_token_is_unauthenticated_for_every_field(stack: Stack, field: str) -> None:
    response = ask(stack, None, FIELDS[field][0])
    assert response.status_code == httpx.codes.UNAUTHORIZED
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["UNAUTHENTICATED"]


@pytest.mark.usefixtures("consent")
def test_listings_hold_only_what_the_caller_may_see(
    stack: Stack, directory: dict[str, Any]
) -> None:
    listing = "{ practices(first: 100) { nodes { odsCode } } }"

    def codes(caller: str) -> set[str]:
        body = ask(stack, caller, listing).json()
        return {node["odsCode"] for node in body["data"]["practices"]["nodes"]}

    assert codes("practice") == {PRACTICE}
    assert codes("other practice") == {OTHER_PRACTICE}

    def area(lmc: str) -> set[str]:
        return {p["odsCode"] for p in directory["practices"] if p["lmcCode"] == lmc}

    assert codes("lmc") == area("kernow")
    assert codes("other lmc") == area("essex")
    assert codes("admin") == {p["odsCode"] for p in directory["practices"]}


NHS_QUERIES = [
    *(query for query, _ in FIELDS.values()),
    f'{{ practice(odsCode: "{PRACTICE}") {{ recordMovements(first: 100) '
    "{ nodes { nhsNumber movementNumber reason direction } } } }",
    f'{{ practice(odsCode: "{OTHER_PRACTICE}") {{ recordMovements(first: 100) '
    "{ nodes { nhsNumber } } } }",
]


@pytest.mark.usefixtures("consent")
@pytest.mark.parametrize("caller", ["lmc", "other lmc", "accountant", "other accountant"])
def test_no_response_to_an_lmc_or_accountant_holds_an_nhs_number(stack: Stack, caller: str) -> None:
    for query in NHS_QUERIES:
        response = ask(stack, caller, query)
        assert not NHS_NUMBER.search(response.text), (query, response.text)


def test_the_practice_itself_does_see_its_patients_nhs_numbers(stack: Stack) -> None:
    response = ask(stack, "practice", NHS_QUERIES[-2])
    nodes = response.json()["data"]["practice"]["recordMovements"]["nodes"]
    # Except a wrong record coming back: that patient is the business only of the practice
    # that received it in error and is sending it back.
    returned = [n for n in nodes if (n["reason"], n["direction"]) == ("WRONG_RECORD_RETURN", "IN")]
    assert [n["nhsNumber"] for n in returned] == [None] * len(returned)
    numbers = [node["nhsNumber"] for node in nodes if node not in returned]
    assert numbers
    assert all(NHS_NUMBER.fullmatch(number) for number in numbers)


# --- mutations -------------------------------------------------------------------------------
# Every mutation, each with a valid request (so that a refusal is about who asks, not what is
# asked) and callers that may not make it. Each cell must come back null with FORBIDDEN, and
# leave every service's audit trail exactly as it was. Each service's test_access.py checks
# the callers who may.

TODAY = "2026-01-05"
CSV_HEADER = "ods_code,period,paycode,component,amount,paymaster,status,paid_on"
CSV_LINE = f"{PRACTICE},2025-11,OTHER,other,1.00,icb,paid,2025-11-28"
MUTATIONS: dict[str, str] = {
    "grantAccountantConsent": f'grantAccountantConsent(input: {{odsCode: "{PRACTICE}", '
    'accountantId: "acct-matrix-2", idempotencyKey: "KEY"}) { active }',
    "revokeAccountantConsent": f'revokeAccountantConsent(input: {{odsCode: "{PRACTICE}", '
    f'accountantId: "{ACCOUNTANT}", idempotencyKey: "KEY"}}) {{ active }}',
    "importPaymentRun": 'importPaymentRun(input: {runId: "RUN-MATRIX-1", csv: "CSV", '
    'idempotencyKey: "KEY"}) { __typename }',
    "importPublishedTotals": 'importPublishedTotals(input: {financialYear: 2024, csv: "x"}) '
    "{ __typename }",
    "recordQofDeclaration": f'recordQofDeclaration(input: {{odsCode: "{PRACTICE}", '
    'financialYear: 2024, achievement: "1000.00", state: APPROVED, approvedOn: "TODAY", '
    'idempotencyKey: "KEY"}) { __typename }',
    "recordTraineePlacement": f'recordTraineePlacement(input: {{odsCode: "{PRACTICE}", '
    'gmcNumber: "PERFORMER", startsOn: "2026-02-04", endsOn: "2027-02-03", '
    'monthlyAmount: "100.00", idempotencyKey: "KEY"}) { __typename }',
    "recordClaim": f'recordClaim(input: {{odsCode: "{PRACTICE}", reference: "ES-1", '
    'component: ENHANCED_SERVICE, description: "Flu", coversFrom: "2025-11-01", '
    'coversTo: "2025-11-30", amount: "10.00", claimedOn: "TODAY", state: CLAIMED, '
    'idempotencyKey: "KEY"}) { __typename }',
    "recordContractValue": f'recordContractValue(input: {{odsCode: "{PRACTICE}", '
    'contractType: "PMS", effectiveFrom: "2026-04-01", annualValue: "1.00", '
    'source: "Contract variation", idempotencyKey: "KEY"}) { __typename }',
    "recordPensionEstimate": 'recordPensionEstimate(input: {gmcNumber: "PERFORMER", '
    f'odsCode: "{PRACTICE}", financialYear: 2025, pensionablePay: "90000.00", '
    'submittedOn: "TODAY", idempotencyKey: "KEY"}) { gmcNumber }',
    "recordPensionCertificate": 'recordPensionCertificate(input: {gmcNumber: "PERFORMER", '
    f'financialYear: 2024, certificateType: TYPE_1, odsCode: "{PRACTICE}", '
    'submittedOn: "TODAY", idempotencyKey: "KEY"}) { gmcNumber }',
    "recordLocumForm": 'recordLocumForm(input: {gmcNumber: "PERFORMER", '
    f'odsCode: "{PRACTICE}", form: A, workFrom: "2025-12-01", workTo: "2025-12-05", '
    'submittedOn: "TODAY", bacsReference: "SD1234LOCDEC2025", pensionablePay: "1000.00", '
    'idempotencyKey: "KEY"}) { gmcNumber }',
    "recordRate": 'recordRate(input: {kind: EMPLOYER, effectiveFrom: "2031-04-01", '
    'value: "23.7", source: "NHS Pensions", idempotencyKey: "KEY"}) { value }',
    "refreshAnomalies": f'refreshAnomalies(odsCodes: ["{PRACTICE}"]) {{ opened }}',
    "openDispute": f'openDispute(input: {{odsCode: "{PRACTICE}", lineId: "LINE", '
    'subject: "Global sum short", idempotencyKey: "KEY"}) { reference }',
    "addDisputeEvent": 'addDisputeEvent(input: {reference: "DISPUTE", kind: SENT, '
    'occurredOn: "TODAY", note: "Chased by email", idempotencyKey: "KEY"}) { reference }',
    "resolveDispute": 'resolveDispute(input: {reference: "DISPUTE", outcome: "Paid", '
    'idempotencyKey: "KEY"}) { reference }',
    "escalateDispute": 'escalateDispute(input: {reference: "DISPUTE", idempotencyKey: "KEY"}) '
    "{ reference }",
    "attachDisputeEvidence": 'attachDisputeEvidence(input: {reference: "DISPUTE", '
    'fileName: "receipt.txt", mediaType: "text/plain", content: "YWJj", '
    'idempotencyKey: "KEY"}) { reference }',
    "openCompensationClaim": f'openCompensationClaim(input: {{odsCode: "{PRACTICE}", '
    'annualRatePercent: "7.9", rateBasis: "Overdraft letter", idempotencyKey: "KEY"}) '
    "{ reference }",
    "recordCompensationStep": 'recordCompensationStep(input: {reference: "CMP-0000000000", '
    'state: SUBMITTED, on: "TODAY", idempotencyKey: "KEY"}) { reference }',
    "setCompensationCosting": f'setCompensationCosting(input: {{odsCode: "{PRACTICE}", '
    'kind: STAFF_HOUR, amount: "18.40", effectiveFrom: "2026-04-01", basis: "Payroll", '
    'idempotencyKey: "KEY"}) { amount }',
    "openCompensationClaimFromFacts": "openCompensationClaimFromFacts(input: "
    f'{{odsCode: "{PRACTICE}", sessionsAWeek: 6, idempotencyKey: "KEY"}}) {{ reference }}',
    "recordListDecision": 'recordListDecision(input: {gmcNumber: "PERFORMER", '
    'toStatus: SUSPENDED, effectiveDate: "TODAY", decision: "PLDP, reg 12", '
    'source: "NHS England", idempotencyKey: "KEY"}) { status }',
    "openChangeRequest": 'openChangeRequest(input: {kind: LEAVING, gmcNumber: "PERFORMER", '
    f'odsCode: "{PRACTICE}", effectiveOn: "2026-01-01", idempotencyKey: "KEY"}}) '
    "{ reference }",
    "decideChangeRequest": 'decideChangeRequest(input: {reference: "CHANGE", '
    'outcome: APPROVED, decidedOn: "TODAY", idempotencyKey: "KEY"}) { reference }',
    "addMembership": f'addMembership(input: {{gmcNumber: "PERFORMER", odsCode: "{PRACTICE}", '
    'role: LOCUM, startDate: "TODAY", idempotencyKey: "KEY"}) { id }',
    "endMembership": 'endMembership(input: {membershipId: "MEMBERSHIP", endDate: "TODAY", '
    'idempotencyKey: "KEY"}) { id }',
    "applyForInclusion": 'applyForInclusion(input: {gmcNumber: "8200001", givenName: "A", '
    f'familyName: "B", gpRegisterOn: "2020-01-01", registrar: false, odsCode: "{PRACTICE}", '
    'idempotencyKey: "KEY"}) { reference }',
    "recordRegistration": 'recordRegistration(input: {gmcNumber: "PERFORMER", '
    'gpRegisterOn: "2006-03-31", evidence: "GMC register", idempotencyKey: "KEY"}) { status }',
    "correctChangeRequestDates": 'correctChangeRequestDates(input: {reference: "CHANGE", '
    'completeOn: "2025-01-01", evidence: "Form received", idempotencyKey: "KEY"}) '
    "{ reference }",
    "recordPublicListCheck": 'recordPublicListCheck(input: {gmcNumber: "PERFORMER", '
    'entries: 0, checkedOn: "TODAY", idempotencyKey: "KEY"}) { status }',
    "setPracticeDetails": f'setPracticeDetails(input: {{odsCode: "{PRACTICE}", '
    'dispensing: true, idempotencyKey: "KEY"}) { odsCode }',
    "requestRecordMovement": 'requestRecordMovement(input: {nhsNumber: "9434765919", '
    f'sending: {{place: PRACTICE, odsCode: "{OTHER_PRACTICE}"}}, '
    f'receiving: {{place: PRACTICE, odsCode: "{PRACTICE}"}}, reason: REQUEST, '
    'urgency: ROUTINE, idempotencyKey: "KEY"}) { movementNumber }',
    "updateRecordMovement": 'updateRecordMovement(input: {movementNumber: "MOVEMENT", '
    'searchStartedOn: "TODAY", idempotencyKey: "KEY"}) { status }',
    "recordCourierScan": 'recordCourierScan(input: {scanId: "SCAN-MATRIX-1", '
    'movementNumber: "MOVEMENT", kind: COLLECTION, scannedAt: "2026-01-05T10:00:00+00:00"}) '
    "{ status }",
    "confirmRecordReceipt": 'confirmRecordReceipt(input: {movementNumber: "MOVEMENT", '
    'nhsNumber: "9434765919", idempotencyKey: "KEY"}) { matched }',
    "reportRecordIncident": 'reportRecordIncident(input: {movementNumber: "MOVEMENT", '
    'kind: EMPTY_ENVELOPE, detail: "Envelope arrived empty", idempotencyKey: "KEY"}) '
    "{ reference }",
    "recordHarmReview": 'recordHarmReview(input: {reviewId: "REVIEW", minutesSpent: 30, '
    'patientInformed: true, nhsEnglandNotified: false, idempotencyKey: "KEY"}) { id }',
    "markRecordReady": 'markRecordReady(input: {movementNumber: "MOVEMENT", '
    'idempotencyKey: "KEY"}) { status }',
    "raiseRecordIncidentWithPcse": "raiseRecordIncidentWithPcse(input: {reference: "
    '"INCIDENT", pcseReference: "CAS-1234567", raisedOn: "TODAY", idempotencyKey: "KEY"}) '
    "{ status }",
    "resolveRecordIncident": 'resolveRecordIncident(input: {reference: "INCIDENT", '
    'outcome: OTHER, resolvedOn: "TODAY", idempotencyKey: "KEY"}) { status }',
    "loadHarmReviewList": f'loadHarmReviewList(input: {{odsCode: "{PRACTICE}", '
    'listReference: "NHSE-MATRIX", receivedOn: "TODAY", nhsNumbers: ["9434765919"], '
    'idempotencyKey: "KEY"}) { added }',
    "recordPatientRegistration": f'recordPatientRegistration(input: {{odsCode: "{PRACTICE}", '
    'nhsNumber: "9434765919", event: REGISTERED, effectiveOn: "TODAY", reason: TRANSFER, '
    'idempotencyKey: "KEY"}) { id }',
    "importPatientRegistrations": f'importPatientRegistrations(input: {{odsCode: "{PRACTICE}", '
    'csv: "nhs_number,event,effective_on,reason\\n9434765919,registered,2026-01-05,'
    'transfer\\n"}) { added }',
    "importRecordsFeed": 'importRecordsFeed(input: {feedId: "FEED-MATRIX", csv: "type,'
    'movement_number,at,status\\nstatus,MOVEMENT,2026-01-05T09:00:00Z,missing\\n"}) '
    "{ lines }",
    "cancelRecordMovement": 'cancelRecordMovement(input: {movementNumber: "MOVEMENT", '
    'reason: "Registered in error", idempotencyKey: "KEY"}) { status }',
    "setNominalCode": 'setNominalCode(input: {component: GLOBAL_SUM, code: "4000", '
    'name: "Global sum", idempotencyKey: "KEY"}) { code }',
    "createWebhookSubscription": 'createWebhookSubscription(input: {url: "http://127.0.0.1:9/m", '
    'eventTypes: [ANOMALY_RAISED], idempotencyKey: "KEY"}) { secret }',
    "rotateWebhookSecret": 'rotateWebhookSecret(input: {id: "SUBSCRIPTION", '
    'idempotencyKey: "KEY"}) { secret }',
    "pauseWebhookSubscription": 'pauseWebhookSubscription(input: {id: "SUBSCRIPTION", '
    'idempotencyKey: "KEY"}) { status }',
    "resumeWebhookSubscription": 'resumeWebhookSubscription(input: {id: "SUBSCRIPTION", '
    'idempotencyKey: "KEY"}) { status }',
    "deleteWebhookSubscription": 'deleteWebhookSubscription(input: {id: "SUBSCRIPTION", '
    'idempotencyKey: "KEY"}) { status }',
    "replayWebhookDelivery": 'replayWebhookDelivery(input: {id: "DELIVERY", '
    'idempotencyKey: "KEY"}) { status }',
}

ANYONE_BUT_ITS_PRACTICE = ["lmc", "accountant", "other practice"]
ANYONE_BUT_ITS_PRACTICE_OR_ACCOUNTANT = ["lmc", "other accountant", "other practice"]
# mutation: the callers that may not make it (an LMC may make none but its own webhook
# subscriptions; an accountant only some of what the practice that consented to it may).
MUTATION_REFUSALS: dict[str, list[str]] = {
    "grantAccountantConsent": [*ANYONE_BUT_ITS_PRACTICE, "payments operator"],
    "revokeAccountantConsent": [*ANYONE_BUT_ITS_PRACTICE, "payments operator"],
    # A practice, or an accountant it consented to, enters its own statements and facts.
    "importPaymentRun": [*ANYONE_BUT_ITS_PRACTICE_OR_ACCOUNTANT, "records operator"],
    "importPublishedTotals": ["lmc", "accountant", "practice", "records operator"],
    "recordQofDeclaration": [*ANYONE_BUT_ITS_PRACTICE_OR_ACCOUNTANT, "records operator"],
    "recordTraineePlacement": [*ANYONE_BUT_ITS_PRACTICE_OR_ACCOUNTANT, "records operator"],
    "recordClaim": [*ANYONE_BUT_ITS_PRACTICE_OR_ACCOUNTANT, "records operator"],
    "recordContractValue": ["lmc", "accountant", "practice", "records operator"],
    "recordPensionEstimate": [*ANYONE_BUT_ITS_PRACTICE, "records operator"],
    "recordPensionCertificate": ["lmc", "accountant", "practice", "records operator"],
    "recordLocumForm": [*ANYONE_BUT_ITS_PRACTICE, "records operator"],
    "recordRate": ["lmc", "accountant", "practice", "records operator"],
    "refreshAnomalies": ["lmc", "accountant", "practice", "records operator"],
    "openDispute": [*ANYONE_BUT_ITS_PRACTICE, "records operator"],
    "addDisputeEvent": [*ANYONE_BUT_ITS_PRACTICE, "records operator"],
    "resolveDispute": [*ANYONE_BUT_ITS_PRACTICE, "records operator"],
    "escalateDispute": [*ANYONE_BUT_ITS_PRACTICE, "records operator"],
    "attachDisputeEvidence": [*ANYONE_BUT_ITS_PRACTICE, "records operator"],
    "openCompensationClaim": [*ANYONE_BUT_ITS_PRACTICE, "records operator"],
    # No such claim: refused all the same, without saying so.
    "recordCompensationStep": [*ANYONE_BUT_ITS_PRACTICE, "records operator"],
    "setCompensationCosting": [*ANYONE_BUT_ITS_PRACTICE, "records operator"],
    "openCompensationClaimFromFacts": [*ANYONE_BUT_ITS_PRACTICE, "records operator"],
    "recordListDecision": ["lmc", "accountant", "practice", "payments operator"],
    "openChangeRequest": [*ANYONE_BUT_ITS_PRACTICE, "records operator"],
    "decideChangeRequest": ["lmc", "accountant", "practice", "payments operator"],
    # Operators only: a practice no longer makes itself a GP's employer by saying so.
    "addMembership": [*ANYONE_BUT_ITS_PRACTICE, "practice", "records operator"],
    "endMembership": ["lmc", "accountant", "other practice", "records operator"],
    "applyForInclusion": ["lmc", "accountant", "practice", "payments operator"],
    "recordRegistration": ["lmc", "accountant", "practice", "payments operator"],
    "correctChangeRequestDates": ["lmc", "accountant", "practice", "records operator"],
    "recordPublicListCheck": ["lmc", "accountant", "practice", "payments operator"],
    "setPracticeDetails": ["lmc", "accountant", "practice", "records operator"],
    "requestRecordMovement": ["lmc", "accountant", "performers operator"],
    "updateRecordMovement": ["lmc", "accountant", "practice", "payments operator"],
    "recordCourierScan": ["lmc", "accountant", "practice", "payments operator"],
    "confirmRecordReceipt": [*ANYONE_BUT_ITS_PRACTICE, "payments operator"],
    "reportRecordIncident": [*ANYONE_BUT_ITS_PRACTICE, "payments operator"],
    "recordHarmReview": [*ANYONE_BUT_ITS_PRACTICE, "payments operator"],
    "cancelRecordMovement": [*ANYONE_BUT_ITS_PRACTICE, "payments operator"],
    # Its sending practice only; the matrix's movement may be coming to A81001 or leaving it.
    "markRecordReady": ["lmc", "accountant", "payments operator"],
    # The practice bearing it; the first incident may be borne by either end.
    "raiseRecordIncidentWithPcse": ["lmc", "accountant", "payments operator"],
    "resolveRecordIncident": ["lmc", "accountant", "payments operator"],
    "loadHarmReviewList": [*ANYONE_BUT_ITS_PRACTICE, "payments operator"],
    "recordPatientRegistration": [*ANYONE_BUT_ITS_PRACTICE, "payments operator"],
    "importPatientRegistrations": [*ANYONE_BUT_ITS_PRACTICE, "payments operator"],
    "importRecordsFeed": ["lmc", "accountant", "practice", "payments operator"],
    # Accountants and practices keep their own charts of accounts; nobody else books payments.
    "setNominalCode": ["lmc", "payments operator", "records operator"],
    # Anyone who may see some payments may subscribe to what it may see (an LMC too, to its
    # area's anomalies without amounts); a subscription is managed by whom it speaks for.
    "createWebhookSubscription": ["records operator", "performers operator"],
    "rotateWebhookSecret": [*ANYONE_BUT_ITS_PRACTICE, "records operator"],
    "pauseWebhookSubscription": [*ANYONE_BUT_ITS_PRACTICE, "records operator"],
    "resumeWebhookSubscription": [*ANYONE_BUT_ITS_PRACTICE, "records operator"],
    "deleteWebhookSubscription": [*ANYONE_BUT_ITS_PRACTICE, "records operator"],
    "replayWebhookDelivery": [*ANYONE_BUT_ITS_PRACTICE, "records operator"],
}
# Refusals of a write that names a patient's NHS number to compare with a movement's stay in
# the records service's audit trail, so that guessing leaves a trace; nothing else changes.
AUDITED_REFUSALS = {"confirmRecordReceipt"}

# Writes refused for whom they name, not for who asks: the caller may make the mutation, but
# not about this person. (mutation, caller, the document, what the cell is called)
NAMING_SOMEONE_ELSE: list[tuple[str, str, str, str]] = [
    # Recording an estimate links the practice to the GP's pensions: only for its own GPs.
    (
        "recordPensionEstimate",
        "practice",
        # Submitted today: a practice dates its own submission at most three days back.
        MUTATIONS["recordPensionEstimate"]
        .replace('"PERFORMER"', '"OTHER_GP"')
        .replace('submittedOn: "TODAY"', 'submittedOn: "NOW"'),
        "a GP of another practice",
    ),
]

MUTATION_CELLS = [
    pytest.param(mutation, caller, MUTATIONS[mutation], id=f"{caller} / {mutation}")
    for mutation, callers in MUTATION_REFUSALS.items()
    for caller in callers
] + [
    pytest.param(mutation, caller, document, id=f"{caller} / {mutation} / {named}")
    for mutation, caller, document, named in NAMING_SOMEONE_ELSE
]


@pytest.fixture(scope="module")
def targets(stack: Stack, movement: str) -> dict[str, str]:
    """Real things in the demo data for the mutations to name: A81001's own where it has
    them, so that only the caller is wrong."""
    body = ask(
        stack,
        "admin",
        f'{{ practice(odsCode: "{PRACTICE}") {{ '
        "harmReviews { items(first: 1) { nodes { id } } } "
        "recordIncidents(first: 1) { nodes { reference } } "
        "payments { statements(first: 1) { nodes { lines { id } } } disputes { reference } } "
        f'}} performer(gmcNumber: "{PERFORMER}") {{ memberships {{ id }} '
        "changeRequests { reference } } "
        f'other: practice(odsCode: "{OTHER_PRACTICE}") {{ performers {{ gmcNumber }} }} '
        f'mine: practice(odsCode: "{PRACTICE}") {{ performers {{ gmcNumber }} }} }}',
    ).json()
    practice, performer = body["data"]["practice"], body["data"]["performer"]
    mine = {p["gmcNumber"] for p in body["data"]["mine"]["performers"]}
    [other_gp, *_] = [
        p["gmcNumber"] for p in body["data"]["other"]["performers"] if p["gmcNumber"] not in mine
    ]

    def first(items: list[Any], key: str, fallback: str) -> str:
        return str(items[0][key]) if items else fallback

    # A webhook subscription of A81001's; its deliveries, if any yet (else an id that names
    # none, which is refused alike: test_webhooks.py replays a real one across practices).
    subscribed = ask(
        stack,
        "practice",
        'mutation { createWebhookSubscription(input: {url: "http://127.0.0.1:9/matrix", '
        'eventTypes: [STATEMENT_PUBLISHED], idempotencyKey: "matrix-subscription"}) '
        "{ subscription { id deliveries(first: 1) { nodes { id } } } } }",
    ).json()["data"]["createWebhookSubscription"]["subscription"]

    return {
        "MOVEMENT": movement,
        "PERFORMER": PERFORMER,
        "OTHER_GP": other_gp,
        "TODAY": TODAY,
        "NOW": dates.today().isoformat(),
        # One line of the practice's own: whose statements a file holds decides who may import it.
        "CSV": CSV_HEADER + "\\n" + CSV_LINE,
        "REVIEW": first(practice["harmReviews"]["items"]["nodes"], "id", "1"),
        "INCIDENT": first(practice["recordIncidents"]["nodes"], "reference", "INC-D000000001"),
        "LINE": first(practice["payments"]["statements"]["nodes"][0]["lines"], "id", "1"),
        "DISPUTE": first(practice["payments"]["disputes"], "reference", "D-00000001"),
        "MEMBERSHIP": first(performer["memberships"], "id", "1"),
        "CHANGE": first(performer["changeRequests"], "reference", "CR-DEMO-A81001"),
        "SUBSCRIPTION": subscribed["id"],
        "DELIVERY": first(subscribed["deliveries"]["nodes"], "id", "999999999"),
    }


def _audit_rows(stack: Stack) -> dict[str, int]:
    async def count(url: str) -> int:
        connection = await asyncpg.connect(url)
        try:
            rows: int = await connection.fetchval("SELECT count(*) FROM audit_event")
            return rows
        finally:
            await connection.close()

    return {name: asyncio.run(count(stack.migrate_urls[name])) for name in SERVICES}


@pytest.mark.usefixtures("consent")
@pytest.mark.parametrize(("mutation", "caller", "document"), MUTATION_CELLS)
def test_a_mutation_is_refused_to_a_caller_who_may_not_make_it(
    stack: Stack, targets: dict[str, str], mutation: str, caller: str, document: str
) -> None:
    for placeholder, value in targets.items():
        document = document.replace(f'"{placeholder}"', f'"{value}"')
    document = document.replace('"KEY"', f'"matrix-{caller.replace(" ", "-")}-{mutation}"')
    before = _audit_rows(stack)

    body = ask(stack, caller, f"mutation {{ {document} }}").json()

    assert body.get("data") is None, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body
    traced = 1 if mutation in AUDITED_REFUSALS else 0
    assert _audit_rows(stack) == {**before, "records": before["records"] + traced}


SET_NOMINAL_CODE = (
    'mutation { setNominalCode(input: {component: GLOBAL_SUM, code: "4000", name: "Global sum", '
    'idempotencyKey: "matrix-chart-KEY"}) { code } }'
)


@pytest.mark.parametrize("caller", ["practice", "accountant"])
def test_a_practice_or_an_accountant_keeps_its_own_chart(stack: Stack, caller: str) -> None:
    body = ask(stack, caller, SET_NOMINAL_CODE.replace("KEY", caller)).json()
    assert body == {"data": {"setNominalCode": body["data"]["setNominalCode"]}}, body


# Fields on the performers service's entities added by the other services: each needs its own
# rule, so each needs its own column.
EXTENDED_FIELDS = {
    "Practice": {
        "payments",
        "recordMovements",
        "recordsBacklog",
        "recordIncidents",
        "harmReviews",
        "patientRegistrations",
    },
    "Lmc": {"paymentsSummary", "recordsSummary", "disputeEscalations"},
    "Performer": {"pensions"},
}


def _graphs(field: GraphQLField) -> set[str]:
    """The subgraphs that resolve a supergraph field, from its @join__field directives."""
    assert field.ast_node is not None
    return {
        print_ast(argument.value)
        for directive in field.ast_node.directives or ()
        if directive.name.value == "join__field"
        for argument in directive.arguments or ()
        if argument.name.value == "graph"
    }


def test_every_root_field_and_entity_extension_has_a_column() -> None:
    """A new root field, mutation or entity extension fails here until it gets its rule."""
    supergraph = build_ast_schema(parse((ROOT / "schema" / "supergraph.graphql").read_text()))
    query_type, mutation_type = supergraph.query_type, supergraph.mutation_type
    assert query_type is not None
    assert mutation_type is not None

    columns = set(FIELDS)
    assert set(query_type.fields) == {field.split(".")[0] for field in columns}
    assert set(mutation_type.fields) == set(MUTATIONS) == set(MUTATION_REFUSALS)
    for type_name, fields in EXTENDED_FIELDS.items():
        entity = supergraph.get_type(type_name)
        assert isinstance(entity, GraphQLObjectType)
        # A field with no @join__field (the key) is resolved everywhere alike.
        extended = {
            name
            for name, field in entity.fields.items()
            if (graphs := _graphs(field)) and "PERFORMERS" not in graphs
        }
        assert extended == fields, type_name
        assert {f"{type_name.lower()}.{name}" for name in fields} <= columns
