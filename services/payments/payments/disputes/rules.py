"""A dispute's clock, its escalation to the LMC, the route to a remedy by contract, the notice
addressed to the commissioner, and the pack an LMC acts on. Pure functions over rows.

The clock runs from the day the practice first raised the query with PCSE (``raised_on``), not
from the day it was typed in here: PCSE's escalation process lets an LMC escalate a query
"waiting for over 40 days since first raising the issue with PCSE" with "a valid case reference
(CAS) number" (Pulse, the escalation trial rolled out nationally; DOMAIN.md §7). The number of
days is a ``timing_rule`` row, so a change to the process is data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from pcse_kit.errors import BadUserInput

from payments.models import Direction, Paymaster
from payments.rates import COMMISSIONER_NAMES, pounds_text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from payments.models import CommissionerRule, Component, Dispute, DisputeEvent

PCSE_BEGAN: Final = date(2015, 9, 1)
"""Primary Care Support England began on 1 September 2015 (the Capita contract; DOMAIN.md §7):
no query was raised with it before."""

DEFAULT_ESCALATION_DAYS: Final = 40
"""Only if the ``timing_rule`` table has no row in force (it has one from 1 Sep 2015)."""

CAS_FORMAT: Final = re.compile(r"CAS-[0-9]{4,8}-[A-Z0-9]{6}")
"""PCSE's case references as practices quote them, e.g. CAS-2107-448120 or CAS-01234-A1B2C3:
"CAS-", a case number, "-", six letters or digits (the shape of the Dynamics CRM case numbers
PCSE's enquiry system issues; PCSE publishes no format, so this is an assumption)."""


def cas_reference(value: str, *, field: str = "casReference") -> str:
    """A CAS reference, upper-cased; a BAD_USER_INPUT naming ``field`` if it is not one."""
    text = value.strip().upper()
    if not CAS_FORMAT.fullmatch(text):
        raise BadUserInput(
            f"`{field}` must be a PCSE case reference such as CAS-01234-A1B2C3 (CAS-, the case "
            "number, and six letters or digits), as PCSE's acknowledgement shows it.",
            field=field,
        )
    return text


def raised_on_input(value: date, *, today: date, field: str = "raisedOn") -> date:
    if value > today:
        raise BadUserInput(f"`{field}` cannot be in the future.", field=field)
    if value < PCSE_BEGAN:
        raise BadUserInput(
            f"`{field}` cannot be before PCSE began (1 September 2015).", field=field
        )
    return value


def escalatable_on(dispute: Dispute, *, days: int) -> date:
    """The first day an LMC may escalate: after ``days`` full days (day 41 for 40)."""
    return dispute.raised_on + timedelta(days=days + 1)


def age_days(dispute: Dispute, *, today: date) -> int:
    """Days since the practice first raised it with PCSE (to its resolution, once resolved)."""
    end = dispute.resolved_at.date() if dispute.resolved_at is not None else today
    return (end - dispute.raised_on).days


def escalatable(dispute: Dispute, *, today: date, days: int) -> bool:
    return dispute.resolved_at is None and today >= escalatable_on(dispute, days=days)


def escalatable_event(
    dispute: Dispute, *, lmc_code: str | None, amount_pence: int | None, today: date
) -> dict[str, Any]:
    """The payload of ``dispute.escalatable`` (key: the practice's ODS code), as published on
    ``today``: ``ageDays`` is 41 on time, more when a missed daily run is made up."""
    return {
        "reference": dispute.reference,
        "odsCode": dispute.ods_code,
        "lmcCode": lmc_code,
        "openedOn": dispute.raised_on.isoformat(),
        "ageDays": (today - dispute.raised_on).days,
        "amountClaimed": None if amount_pence is None else f"{Decimal(amount_pence) / 100:.2f}",
    }


@dataclass(frozen=True)
class Remedy:
    """One way to a decision, with its source."""

    route: str
    basis: str
    source: str


# Where sources disagree or are silent, the README's rule table says which is assumed.
NHS_DISPUTE_RESOLUTION: Final = (
    "NHS dispute resolution: NHS Resolution's Primary Care Appeals determines the dispute for "
    "the Secretary of State, after local resolution with the commissioner (the LMC may take "
    "part); its determination can be judicially reviewed"
)
COURTS: Final = "the civil courts, for breach of contract (a claim for the money owed)"

_GMS = "NHS (General Medical Services Contracts) Regulations 2015 (SI 2015/1862)"
_PMS = "NHS (Personal Medical Services Agreements) Regulations 2015 (SI 2015/1879)"
_JR = "R (Shashikanth) v NHS Litigation Authority, Court of Appeal (Weightmans; DR Solicitors)"


def remedies(contract_type: str | None, health_service_body: bool | None) -> list[Remedy]:
    """The routes open to the practice, by its contract and whether it elected to be treated as
    a health service body (an "NHS contract"): such a contract is not enforceable in the
    courts, so only NHS dispute resolution; otherwise either."""
    contract = (contract_type or "").upper()
    if contract == "APMS":
        nhs = Remedy(
            NHS_DISPUTE_RESOLUTION,
            "where the APMS contract takes effect as an NHS contract (as the contract says)",
            "SSP Health Ltd v NHS Litigation Authority [2019] EWHC 3291 (Admin) (Browne "
            "Jacobson): an APMS contract can take effect as an NHS contract",
        )
        court = Remedy(
            COURTS,
            "where the APMS contract is not an NHS contract, and as its dispute clause provides",
            "NHS Act 2006 s9 (only NHS contracts are kept out of the courts)",
        )
        if health_service_body is True:
            return [nhs]
        return [nhs, court] if health_service_body is None else [court, nhs]
    regulations = _PMS if contract == "PMS" else _GMS
    nhs = Remedy(
        NHS_DISPUTE_RESOLUTION,
        "the contractor may refer any dispute even if the commissioner does not agree"
        if health_service_body is False
        else "an NHS contract: disputes go to the Secretary of State (NHS Act 2006 s9)",
        f"{regulations}, dispute resolution (GMS: reg 82 for non-NHS contracts); NHS Act 2006 "
        f"s9; {_JR}",
    )
    court = Remedy(
        COURTS,
        "the contractor did not elect to be a health service body, so the contract is "
        "enforceable in the courts",
        f"{regulations}, health service body status (GMS: Part 4); Doncaster LMC; Weightmans",
    )
    if health_service_body is True:
        return [nhs]
    if health_service_body is False:
        return [nhs, court]
    return [
        nhs,
        Remedy(
            COURTS,
            "only if the contractor did not elect to be a health service body (not recorded "
            "here: check the contract)",
            court.source,
        ),
    ]


def contractual_basis(contract_type: str | None) -> str:
    contract = (contract_type or "").upper()
    if contract == "PMS":
        return "the payment terms of the practice's PMS agreement (NHS Act 2006 s92; " + _PMS + ")"
    if contract == "APMS":
        return "the payment terms of the practice's APMS contract (NHS Act 2006 s83(2))"
    if contract == "GMS":
        return (
            "the GMS contract's payment terms: payments under the Statement of Financial "
            "Entitlements directions in force for the period (NHS Act 2006 s87; " + _GMS + ")"
        )
    return (
        "the payment terms of the practice's primary medical services contract (GMS: the "
        "Statement of Financial Entitlements under NHS Act 2006 s87; PMS and APMS: the "
        "agreement's own terms)"
    )


@dataclass(frozen=True)
class Addressee:
    who: str
    why: str


def addressee(
    *,
    rule: CommissionerRule | None,
    paymaster: Paymaster | None,
    icb_code: str | None,
) -> Addressee:
    """Whose money it is: the line's paymaster where a line says, else the commissioner of its
    component on the day (the ICB under delegation since 1 July 2022, NHS England before; the
    local authority for public health)."""
    who = paymaster if paymaster is not None else (rule.commissioner if rule else None)
    if who is None:
        return Addressee(
            "the commissioner of the practice's contract (the ICB since 1 July 2022)",
            "the commissioner of this component is not recorded",
        )
    why = (
        f"the paymaster the statement line names; paid through {rule.route}"
        if paymaster is not None and rule is not None
        else "the paymaster the statement line names"
        if paymaster is not None
        else f"commissioner of this component ({rule.source}); paid through {rule.route}"
        if rule is not None
        else ""
    )
    if who is Paymaster.ICB:
        name = (
            f"the Integrated Care Board {icb_code}, commissioning primary medical services "
            "under delegation from NHS England"
            if icb_code
            else "the practice's Integrated Care Board, commissioning under delegation"
        )
        return Addressee(name, why)
    return Addressee(COMMISSIONER_NAMES.get(who.value, who.value), why)


@dataclass(frozen=True)
class Attached:
    file_name: str
    media_type: str
    size_bytes: int
    sha256: str
    event_id: int | None


@dataclass(frozen=True)
class Case:
    """Everything a notice and an escalation pack say, read in one place."""

    dispute: Dispute
    practice_name: str | None
    icb_code: str | None
    lmc_code: str | None
    contract_type: str | None
    about: str
    """What is disputed, in words: the line, the anomaly, the claim or the item."""
    component: Component | None
    amount_pence: int | None
    direction: Direction
    facts: list[tuple[str, str]]
    addressee: Addressee
    events: Sequence[DisputeEvent]
    attachments: Sequence[Attached] = field(default_factory=list)


def late_payment_notice(case: Case, *, today: date, days: int) -> str:
    """A plain-text notice the practice sends to the commissioner, copying PCSE."""
    dispute = case.dispute
    age = age_days(dispute, today=today)
    parts = [
        f"Our reference: {dispute.reference}",
        *([f"PCSE case reference: {dispute.cas_reference}"] if dispute.cas_reference else []),
        f"Practice: {case.practice_name or dispute.ods_code} ({dispute.ods_code})",
        f"Date: {today.isoformat()}",
        "",
        f"To: {case.addressee.who}",
        "Copy: Primary Care Support England (the paying agent)"
        + (f"; {case.lmc_code} LMC" if case.lmc_code else ""),
        "",
        f"Subject: {dispute.subject}",
        "",
        f"What is owed: {case.about}"
        + (f", {pounds_text(case.amount_pence)}" if case.amount_pence is not None else "")
        + ".",
        f"Contractual basis: {contractual_basis(case.contract_type)}.",
        "",
        f"We first raised this with PCSE on {dispute.raised_on.isoformat()}, {age} days ago. "
        "It remains unresolved.",
    ]
    if case.facts:
        parts += ["", "Evidence:", *(f"  - {label}: {value}" for label, value in case.facts)]
    if case.events:
        parts += ["", "Timeline:"]
        for event in case.events:
            parts.append(f"  {event.occurred_on.isoformat()}  {event.kind.value}: {event.note}")
            parts += [f"      {label}: {value}" for label, value in event.evidence]
    if case.attachments:
        parts += ["", "Attached:"]
        parts += [
            f"  {a.file_name} ({a.media_type}, {a.size_bytes} bytes, SHA-256 {a.sha256})"
            for a in case.attachments
        ]
    escalation = escalatable_on(dispute, days=days)
    parts += [
        "",
        "We ask that the amount due is paid in the next payment run and that you confirm the "
        "date in writing. "
        + (
            f"As the query has been unresolved for more than {days} days, we are asking our "
            "LMC to escalate it."
            if today >= escalation
            else f"If it is not resolved by {escalation.isoformat()}, we will ask our LMC to "
            "escalate it."
        ),
        "",
        "If it is not resolved, the practice may refer it to:",
        *(f"  - {r.route} ({r.basis}; {r.source})" for r in remedies(
            case.contract_type, dispute.health_service_body)),
        "",
        "We reserve the right to claim the direct and indirect losses this has caused, with "
        "this evidence.",
    ]  # fmt: skip
    return "\n".join(parts)


def escalation_pack(case: Case, *, today: date, days: int) -> dict[str, Any]:
    """What an LMC needs to escalate the query to PCSE and the commissioner, as data."""
    dispute = case.dispute
    by_event: dict[int | None, list[Attached]] = {}
    for attached in case.attachments:
        by_event.setdefault(attached.event_id, []).append(attached)

    def files(found: Sequence[Attached]) -> list[dict[str, Any]]:
        return [
            {"fileName": a.file_name, "mediaType": a.media_type, "sizeBytes": a.size_bytes,
             "sha256": a.sha256}
            for a in found
        ]  # fmt: skip

    return {
        "reference": dispute.reference,
        "casReference": dispute.cas_reference,
        "generatedOn": today.isoformat(),
        "practice": {
            "odsCode": dispute.ods_code,
            "name": case.practice_name,
            "contractType": case.contract_type,
            "icbCode": case.icb_code,
            "lmcCode": case.lmc_code,
            "healthServiceBody": dispute.health_service_body,
        },
        "query": {
            "subject": dispute.subject,
            "about": case.about,
            "component": None if case.component is None else case.component.value,
            "facts": [{"label": label, "value": value} for label, value in case.facts],
        },
        "amount": {
            "pence": case.amount_pence,
            "pounds": None if case.amount_pence is None else pounds_text(case.amount_pence),
            "direction": case.direction.name,
        },
        "dates": {
            "raisedOn": dispute.raised_on.isoformat(),
            "recordedOn": dispute.opened_at.date().isoformat(),
            "ageDays": age_days(dispute, today=today),
            "escalatableOn": escalatable_on(dispute, days=days).isoformat(),
            "escalatedOn": None
            if dispute.escalated_on is None
            else dispute.escalated_on.isoformat(),
        },
        "addressee": {"to": case.addressee.who, "why": case.addressee.why},
        "contractualBasis": contractual_basis(case.contract_type),
        "remedies": [
            {"route": r.route, "basis": r.basis, "source": r.source}
            for r in remedies(case.contract_type, dispute.health_service_body)
        ],
        "timeline": [
            {
                "occurredOn": e.occurred_on.isoformat(),
                "kind": e.kind.name,
                "note": e.note,
                "evidence": [{"label": label, "value": value} for label, value in e.evidence],
                "attachments": files(by_event.get(e.id, [])),
            }
            for e in case.events
        ],
        "attachments": files(case.attachments),
    }
