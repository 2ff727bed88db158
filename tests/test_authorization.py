"""Who may see what, through the real gateway: every role against every root field and every
field of the client contract, on the demo data.

A new field gets its rule in its service's ``policy.py`` and a column here; a new role, a row.
Each cell is one request and says what must come back: the data, or the field null with a
FORBIDDEN error, or (without a token) UNAUTHENTICATED before anything runs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from graphql import GraphQLField, GraphQLObjectType, build_ast_schema, parse, print_ast

from stack import ROOT

if TYPE_CHECKING:
    from stack import Stack

PRACTICE = "A81001"  # in kernow
OTHER_PRACTICE = "F83424"  # in essex
PERFORMER = "9071747"  # a partner at A81001
ACCOUNTANT = "acct-matrix"

CALLERS: dict[str, tuple[str, list[str], str | None]] = {
    # name: (role, scope, subject)
    "admin": ("admin", [], None),
    "practice": ("practice", [PRACTICE], "manager@a81001"),
    "other practice": ("practice", [OTHER_PRACTICE], None),
    "lmc": ("lmc", ["kernow"], None),
    "other lmc": ("lmc", ["essex"], None),
    "accountant": ("accountant", [], ACCOUNTANT),
    "other accountant": ("accountant", [], "acct-stranger"),
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
    "lmc.disputeEscalations": (
        '{ lmc(code: "kernow") { disputeEscalations(first: 5) { reference } } }',
        ("lmc", "disputeEscalations"),
    ),
}

Y, N = True, False
# Rows: callers; columns: FIELDS in order. True: the data; False: null with FORBIDDEN.
MATRIX: dict[str, tuple[bool, ...]] = {
    # Columns, in FIELDS order: practice, .payments, .recordMovements, performer, lmc,
    # practices, practicePayments, accountantConsents, searchPerformers, searchPractices,
    # paycodes, paymentRates, recordMovement, practice.recordsBacklog, .recordIncidents,
    # .harmReviews, lmc.paymentsSummary, lmc.recordsSummary, performer.pensions, lmc.summary,
    # canStart, lmc.disputeEscalations.
    "admin":                 (Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y),
    "practice":              (Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, N, N, Y, N, Y, N),
    "other practice":        (N, N, N, N, N, Y, N, Y, Y, Y, Y, Y, N, N, N, N, N, N, N, N, N, N),
    "lmc":                   (Y, N, N, Y, Y, Y, N, N, Y, Y, Y, Y, N, N, N, N, Y, Y, N, Y, Y, Y),
    "other lmc":             (N, N, N, N, N, Y, N, N, Y, Y, Y, Y, N, N, N, N, N, N, N, N, N, N),
    "accountant":            (N, N, N, N, N, N, Y, Y, N, N, Y, Y, N, N, N, N, N, N, N, N, N, N),
    "other accountant":      (N, N, N, N, N, N, N, Y, N, N, Y, Y, N, N, N, N, N, N, N, N, N, N),
    "payments operator":     (N, N, N, N, N, N, Y, Y, N, N, Y, Y, N, N, N, N, N, N, N, N, N, N),
    "records operator":      (N, N, N, N, N, N, N, N, N, N, Y, Y, Y, N, N, N, N, N, N, N, N, N),
    "performers operator":   (Y, N, N, Y, Y, Y, N, N, Y, Y, Y, Y, N, N, N, N, N, N, N, Y, Y, N),
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
    "{ nodes { nhsNumber movementNumber } } } }",
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
    numbers = [
        node["nhsNumber"]
        for node in response.json()["data"]["practice"]["recordMovements"]["nodes"]
    ]
    assert numbers
    assert all(NHS_NUMBER.fullmatch(number) for number in numbers)


# Checked in their service's tests instead (test_access.py): mutations change state, so the
# matrix's one-request cells do not suit them.
MUTATIONS_TESTED_IN_SERVICES = {
    "addDisputeEvent",
    "attachDisputeEvidence",
    "escalateDispute",
    "cancelRecordMovement",
    "confirmRecordReceipt",
    "importPaymentRun",
    "importPublishedTotals",
    "openDispute",
    "recordCourierScan",
    "recordHarmReviewOutcome",
    "recordLocumForm",
    "recordPensionCertificate",
    "recordPensionEstimate",
    "recordQofDeclaration",
    "recordRate",
    "recordClaim",
    "recordContractValue",
    "recordTraineePlacement",
    "refreshAnomalies",
    "reportRecordIncident",
    "requestRecordMovement",
    "resolveDispute",
    "updateRecordMovement",
    "grantAccountantConsent",
    "revokeAccountantConsent",
    "recordListDecision",
    "openChangeRequest",
    "decideChangeRequest",
    "addMembership",
    "endMembership",
    "applyForInclusion",
    "recordRegistration",
    "correctChangeRequestDates",
    "recordPublicListCheck",
    "setPracticeDetails",
}
# The facts a practice enters about itself, and the contract values operators record, through
# the gateway with a caller that may not write them: each is refused, and nothing is written
# (the service tests show the callers who may).
PRACTICE_WRITES: dict[str, str] = {
    "recordClaim": (
        'mutation { recordClaim(input: {odsCode: "A81001", reference: "ES-1", '
        'component: ENHANCED_SERVICE, description: "Flu", coversFrom: "2026-01-01", '
        'coversTo: "2026-01-31", amount: "10.00", claimedOn: "2026-02-01", state: CLAIMED, '
        'idempotencyKey: "matrix-claim-1"}) { claims { reference } } }'
    ),
    "recordQofDeclaration": (
        'mutation { recordQofDeclaration(input: {odsCode: "A81001", financialYear: 2024, '
        'achievement: "1.00", state: AWAITING_PROVIDER_APPROVAL, '
        'idempotencyKey: "matrix-qof-1"}) { qofDeclarations { label } } }'
    ),
    "recordTraineePlacement": (
        'mutation { recordTraineePlacement(input: {odsCode: "A81001", gmcNumber: "7310446", '
        'startsOn: "2026-02-04", endsOn: "2026-08-03", monthlyAmount: "1.00", '
        'idempotencyKey: "matrix-placement-1"}) { qofDeclarations { label } } }'
    ),
    "importPaymentRun": (
        'mutation { importPaymentRun(input: {runId: "matrix-own-1", csv: "ods_code,period,'
        'paycode,component,amount\\nA81001,2026-06,OTHER,other,1.00\\n"}) { runId } }'
    ),
    "recordContractValue": (
        'mutation { recordContractValue(input: {odsCode: "A81001", contractType: "PMS", '
        'effectiveFrom: "2026-04-01", annualValue: "1.00", source: "matrix", '
        'idempotencyKey: "matrix-contract-1"}) { qofDeclarations { label } } }'
    ),
}
REFUSED_WRITERS = [
    pytest.param(mutation, caller, id=f"{caller} / {mutation}")
    for mutation in PRACTICE_WRITES
    for caller in ("other practice", "lmc", "other accountant", "records operator")
] + [pytest.param("recordContractValue", "practice", id="practice / recordContractValue")]


@pytest.mark.parametrize(("mutation", "caller"), REFUSED_WRITERS)
def test_a_caller_who_may_not_enter_a_practices_facts_is_refused(
    stack: Stack, mutation: str, caller: str
) -> None:
    body = ask(stack, caller, PRACTICE_WRITES[mutation]).json()

    assert body.get("data") is None or all(v is None for v in body["data"].values()), body
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}, body


# A practice's dispute writes, on the demo practice's dispute, each with a caller that may not
# make it: refused with FORBIDDEN, and nothing written (the service tests show who may).
DISPUTE_WRITES: dict[str, str] = {
    "escalateDispute": (
        'mutation { escalateDispute(input: {reference: "PAY-DEMO2021QOF", '
        'idempotencyKey: "matrix-escalate-1"}) { escalatedOn } }'
    ),
    "attachDisputeEvidence": (
        'mutation { attachDisputeEvidence(input: {reference: "PAY-DEMO2021QOF", '
        'fileName: "a.txt", mediaType: "text/plain", content: "YWJj", '
        'idempotencyKey: "matrix-attach-1"}) { attachments { sha256 } } }'
    ),
}


@pytest.mark.parametrize(
    ("mutation", "caller"),
    [
        pytest.param(mutation, caller, id=f"{caller} / {mutation}")
        for mutation in DISPUTE_WRITES
        for caller in ("other practice", "lmc", "accountant", "records operator")
    ],
)
def test_a_caller_who_may_not_is_refused_each_dispute_write(
    stack: Stack, mutation: str, caller: str
) -> None:
    body = ask(stack, caller, DISPUTE_WRITES[mutation]).json()
    assert body.get("data") is None, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body


# The performers list's writes, each with a caller that may not make it: refused with FORBIDDEN
# before anything is looked up, and nothing written.
REFUSED_MUTATIONS: dict[str, tuple[str, str]] = {
    "applyForInclusion": (
        "practice",
        'mutation { applyForInclusion(input: {gmcNumber: "8200001", givenName: "A", '
        'familyName: "B", gpRegisterOn: "2020-01-01", odsCode: "A81001", '
        'idempotencyKey: "matrix-apply"}) { reference } }',
    ),
    "recordRegistration": (
        "lmc",
        f'mutation {{ recordRegistration(input: {{gmcNumber: "{PERFORMER}", '
        'gpRegisterOn: "2006-03-31", evidence: "x", idempotencyKey: "matrix-reg"}) { status } }',
    ),
    "correctChangeRequestDates": (
        "practice",
        'mutation { correctChangeRequestDates(input: {reference: "CR-DEMO-A81001", '
        'completeOn: "2025-01-01", evidence: "x", idempotencyKey: "matrix-fix"}) '
        "{ reference } }",
    ),
    "recordPublicListCheck": (
        "payments operator",
        f'mutation {{ recordPublicListCheck(input: {{gmcNumber: "{PERFORMER}", entries: 0, '
        'checkedOn: "2026-01-05", idempotencyKey: "matrix-public"}) { status } }',
    ),
    "setPracticeDetails": (
        "practice",
        'mutation { setPracticeDetails(input: {odsCode: "A81001", dispensing: true, '
        'idempotencyKey: "matrix-details"}) { odsCode } }',
    ),
    "addMembership": (
        "other practice",
        f'mutation {{ addMembership(input: {{gmcNumber: "{PERFORMER}", odsCode: '
        f'"{OTHER_PRACTICE}", role: PARTNER, startDate: "2025-01-01", '
        'idempotencyKey: "matrix-member"}) { id } }',
    ),
    "openChangeRequest": (
        "other practice",
        f'mutation {{ openChangeRequest(input: {{kind: LEAVING, gmcNumber: "{PERFORMER}", '
        f'odsCode: "{OTHER_PRACTICE}", effectiveOn: "2026-01-01", '
        'idempotencyKey: "matrix-leave"}) { reference } }',
    ),
    "decideChangeRequest": (
        "practice",
        'mutation { decideChangeRequest(input: {reference: "CR-DEMO-A81001", outcome: APPROVED, '
        'decidedOn: "2026-01-05", idempotencyKey: "matrix-decide"}) { outcome } }',
    ),
    "recordListDecision": (
        "lmc",
        f'mutation {{ recordListDecision(input: {{gmcNumber: "{PERFORMER}", toStatus: SUSPENDED, '
        'effectiveDate: "2026-01-05", decision: "x", source: "x", '
        'idempotencyKey: "matrix-decision"}) { status } }',
    ),
}


@pytest.mark.parametrize("mutation", list(REFUSED_MUTATIONS))
def test_a_caller_who_may_not_is_refused_each_performers_write(stack: Stack, mutation: str) -> None:
    caller, text = REFUSED_MUTATIONS[mutation]
    body = ask(stack, caller, text).json()
    assert body.get("data") is None, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body


# Fields on the performers service's entities added by the other services: each needs its own
# rule, so each needs its own column.
EXTENDED_FIELDS = {
    "Practice": {"payments", "recordMovements", "recordsBacklog", "recordIncidents", "harmReviews"},
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
    assert set(mutation_type.fields) == MUTATIONS_TESTED_IN_SERVICES
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
