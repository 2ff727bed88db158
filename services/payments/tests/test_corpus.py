"""The payments test corpus (``tests/corpus/``, written by hand from the published rules): each
practice, paid correctly, has no anomaly; each planted fault is found exactly, with its amount
and direction, and nothing else.

Every fact goes in through the service's real inputs: the performers stream's events for the
directory (the practice, its quarterly lists, who works there, list decisions), the service's
writes for what a practice or an operator records (LMC levies, contract values, estimates,
certificates, QOF declarations, claims, locum forms), and the payment-run import, as the
practice, for the statements. Detection then runs as of the corpus's day, through the one place
that decides "today" (``pcse_kit.dates``).

The corpus and this file are kept apart on purpose: nothing here computes a figure; it only
maps the corpus's words onto the service's inputs and its findings back onto the corpus's.
"""

from __future__ import annotations

import csv
import io
import tomllib
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from payments.claims import service as claims_service
from payments.detection import service as detection_service
from payments.directory import consumer
from payments.models import (
    Anomaly,
    AnomalyKind,
    CertificateType,
    ClaimState,
    DeclarationState,
    LocumForm,
    LocumPensionForm,
    Paycode,
    RateKind,
)
from payments.pensions import rules as pension_rules
from payments.pensions import service as pensions_service
from payments.qof import service as qof_service
from payments.rates import financial_year
from payments.schedule import service as schedule_service
from payments.statements import ingest
from payments.statements import service as statements_service
from payments.training import service as training_service
from pcse_kit import dates
from pcse_kit.auth import Principal, Role
from pcse_kit.events import Event
from sqlalchemy import select

if TYPE_CHECKING:
    from fastapi import FastAPI

CORPUS = Path(__file__).parent / "corpus"
OPERATOR = Principal(subject="corpus-operator", role=Role.OPERATOR, scope=frozenset({"payments"}))

WORDS = {
    AnomalyKind.LATE: "late",
    AnomalyKind.DUPLICATE: "duplicate",
    AnomalyKind.STUCK: "stuck",
    AnomalyKind.LEAVER_SUPERANNUATION: "leaver",
    AnomalyKind.PENSION_CATCH_UP: "catch_up",
    AnomalyKind.PENSION_GAP: "pension_gap",
    AnomalyKind.WRONG_TIER: "wrong_tier",
    AnomalyKind.STUCK_DECLARATION: "stuck_declaration",
}
"""The service's kinds in the corpus's vocabulary; MISSING and INCORRECT_AMOUNT say more below."""
DECLARATION_STATES = {
    "awaiting_service_provider_approval": DeclarationState.AWAITING_PROVIDER_APPROVAL,
    "awaiting_commissioning_organisation_approval": DeclarationState.AWAITING_COMMISSIONER_APPROVAL,
    "approved": DeclarationState.APPROVED,
    "paid": DeclarationState.PAID,
    "appeal": DeclarationState.APPEALED,
    "no_declaration_required": DeclarationState.NO_DECLARATION_REQUIRED,
}
CLAIM_STATES = {state.value: state for state in ClaimState}
CERTIFICATES = {"type1": CertificateType.TYPE_1, "type2": CertificateType.TYPE_2}


# --------------------------------------------------------------------------------------------
# The corpus as data


@dataclass
class Practice:
    folder: str
    facts: dict[str, Any]
    header: list[str]
    rows: list[dict[str, str]]

    @property
    def ods_code(self) -> str:
        return str(self.facts["practice"]["ods_code"])

    @property
    def as_of(self) -> date:
        value: date = self.facts["as_of"]
        return value


@dataclass(frozen=True)
class Finding:
    kind: str
    component: str
    period: str
    gmc_number: str
    amount: str
    direction: str


@dataclass
class Case:
    name: str
    practice: Practice
    expected: list[Finding] = field(default_factory=list)


def load_practice(folder: str) -> Practice:
    base = CORPUS / folder
    facts = tomllib.loads((base / "practice.toml").read_text())
    reader = csv.DictReader(io.StringIO((base / "statements.csv").read_text(), newline=""))
    return Practice(folder, facts, list(reader.fieldnames or []), list(reader))


def _matches(row: dict[str, Any], match: dict[str, Any]) -> bool:
    return all(str(row.get(key, "")) == str(value) for key, value in match.items())


def _one(rows: list[dict[str, Any]], match: dict[str, Any], what: str) -> dict[str, Any]:
    found = [row for row in rows if _matches(row, match)]
    assert len(found) == 1, f"{what}: {match} selects {len(found)} rows, not one"
    return found[0]


def apply_fault(practice: Practice, fault: dict[str, Any], name: str) -> Practice:
    rows = [dict(row) for row in practice.rows]
    facts = tomllib.loads(
        (CORPUS / practice.folder / "practice.toml").read_text()
    )  # a fresh copy to change
    for drop in fault.get("drop", []):
        rows.remove(_one(rows, drop, f"{name} drop"))
    for change in fault.get("change", []):
        row = _one(rows, change["match"], f"{name} change")
        row.update({key: str(value) for key, value in change["set"].items()})
    for add in fault.get("add", []):
        rows.append({column: str(add.get(column, "")) for column in practice.header})
    for fact in fault.get("fact", []):
        entries = facts[fact["table"]]
        entry = _one(entries, fact["match"], f"{name} fact")
        entry.update(fact.get("set", {}))
        for key in fact.get("unset", []):
            entry.pop(key, None)
    return Practice(practice.folder, facts, practice.header, rows)


def cases() -> list[Case]:
    practices = {
        path.parent.name: load_practice(path.parent.name)
        for path in sorted(CORPUS.glob("*/practice.toml"))
    }
    found = [Case(f"{folder} (paid correctly)", practice) for folder, practice in practices.items()]
    for path in sorted((CORPUS / "faults").glob("*.toml")):
        fault = tomllib.loads(path.read_text())
        practice = apply_fault(practices[fault["practice"]], fault, path.stem)
        expected = [
            Finding(
                kind=e["kind"], component=e["component"], period=e["period"],
                gmc_number=str(e.get("gmc_number", "")), amount=str(e["amount"]),
                direction=e["direction"],
            )
            for e in fault["expect"]
        ]  # fmt: skip
        found.append(Case(path.stem, practice, expected))
    return found


# --------------------------------------------------------------------------------------------
# Into the service through its inputs


def _year(label: str) -> int:
    return int(label.split("/", maxsplit=1)[0])


def _pence(value: Any) -> int:
    return ingest.amount_pence(str(value))


def _month(value: str) -> date:
    return date.fromisoformat(f"{value}-01")


def _event(kind: str, key: str, payload: dict[str, Any], position: int) -> Event:
    return Event(
        event_id=uuid.uuid4(), stream=consumer.STREAM, type=kind, key=key, payload=payload,
        occurred_at=datetime.now(UTC), position=position,
    )  # fmt: skip


class Loader:
    """One corpus practice into the service, as its facts would arrive."""

    def __init__(self, app: FastAPI, practice: Practice) -> None:
        self.app = app
        self.practice = practice
        self.sessionmaker = app.state.sessionmaker
        code = practice.ods_code
        self.manager = Principal(
            subject=f"manager@{code.lower()}", role=Role.PRACTICE, scope=frozenset({code})
        )
        self.today = practice.as_of
        self.keys = 0
        self.positions = 0

    def key(self) -> str:
        self.keys += 1
        return f"corpus-{self.practice.ods_code}-{self.keys:04d}"

    async def events(self, *events: tuple[str, str, dict[str, Any]]) -> None:
        async with self.sessionmaker.begin() as session:
            for kind, key, payload in events:
                self.positions += 1
                await consumer.apply(session, _event(kind, key, payload, self.positions))

    async def load(self) -> None:
        facts = self.practice.facts
        await self.directory(facts)
        await self.levies(facts)
        await self.contract(facts)
        await self.pensions(facts)
        await self.qof(facts)
        for placement in facts.get("placement", []):
            pay = placement.get("reimbursement", [])
            await training_service.record_trainee_placement(
                self.sessionmaker, self.manager, ods_code=self.practice.ods_code,
                gmc_number=placement["gmc_number"], starts_on=placement["start"],
                ends_on=placement["end"], monthly_pence=_pence(pay[0]["monthly"]),
                idempotency_key=self.key(), today=self.today,
                pay_changes=[
                    training_service.PayChange(
                        applies_from=change["applies_from"],
                        decided_on=change.get("decided_on"),
                        monthly_pence=_pence(change["monthly"]),
                    )
                    for change in pay
                ],
            )  # fmt: skip
        await self.claims(facts)
        await self.statements()

    async def directory(self, facts: dict[str, Any]) -> None:
        practice = facts["practice"]
        code = practice["ods_code"]
        lists = sorted(facts.get("list_size", []), key=lambda row: row["quarter_start"])
        payload = {
            "odsCode": code, "name": practice["name"], "lmcCode": practice["lmc_code"],
            "icbCode": practice["icb_code"], "status": "active",
            "listSize": lists[-1]["registered"] if lists else 0,
            "contractType": practice["contract_type"], "dispensing": practice["dispensing"],
            "trainingPractice": practice["training_practice"],
            "outOfHoursOptOut": practice["out_of_hours_opt_out"],
        }  # fmt: skip
        events: list[tuple[str, str, dict[str, Any]]] = [("practice.upserted", code, payload)]
        quarters = {
            row["quarter_start"]: {
                "registeredPatients": row["registered"],
                "weightedPatients": row.get("weighted"),
                "source": row.get("source", "corpus"),
            }
            for row in lists
        }
        qof = facts.get("qof", {})
        year = _year(facts["financial_year"])
        # The registered lists on 1 January that QOF's list-size adjustment reads.
        for day, key in ((date(year - 1, 1, 1), "registered_1_jan_prior"),
                         (date(year, 1, 1), "registered_1_jan_current")):  # fmt: skip
            if key in qof and day not in quarters:
                quarters[day] = {
                    "registeredPatients": qof[key],
                    "weightedPatients": None,
                    "source": "PCSE quarterly list (QOF list on 1 January)",
                }
        for day, values in sorted(quarters.items()):
            events.append(
                ("practice.list_size_recorded", code,
                 {"odsCode": code, "quarterStart": day.isoformat(), **values})
            )  # fmt: skip
        for number, performer in enumerate(facts.get("performer", []), start=1):
            membership = {
                "membershipId": number, "gmcNumber": performer["gmc_number"], "odsCode": code,
                "role": performer["role"], "startDate": performer["membership_start"].isoformat(),
                "endDate": None,
            }  # fmt: skip
            events.append(("membership.started", performer["gmc_number"], membership))
            if "membership_end" in performer:
                ended = {**membership, "endDate": performer["membership_end"].isoformat()}
                events.append(("membership.ended", performer["gmc_number"], ended))
        for change in facts.get("status_change", []):
            events.append(
                ("performer.status_changed", change["gmc_number"],
                 {"gmcNumber": change["gmc_number"], "from": change["from"], "to": change["to"],
                  "effectiveDate": change["effective_date"].isoformat(),
                  "decision": change.get("decision", ""), "source": "corpus"})
            )  # fmt: skip
        await self.events(*events)

    async def contract(self, facts: dict[str, Any]) -> None:
        """A PMS baseline or APMS contract price for the year, and any variation decided
        later (operators record contract values)."""
        practice = facts["practice"]
        year_start = date(_year(facts["financial_year"]), 4, 1)
        values = [
            (practice["contract_type"], year_start, None, practice[key])
            for key in ("pms_baseline_annual", "apms_contract_annual")
            if key in practice
        ]
        values += [
            ("PMS", change["applies_from"], change["decided_on"], change["annual"])
            for change in facts.get("pms_baseline_change", [])
        ]
        for contract, since, decided, annual in values:
            await schedule_service.record_contract_value(
                self.sessionmaker, OPERATOR, ods_code=self.practice.ods_code,
                contract_type=contract, effective_from=since, annual_pence=_pence(annual),
                source="corpus: the practice's contract", idempotency_key=self.key(),
                today=self.today, decided_on=decided,
            )  # fmt: skip

    async def levies(self, facts: dict[str, Any]) -> None:
        levy = facts.get("lmc_levy")
        if not levy:
            return
        lists = sorted(row["quarter_start"] for row in facts.get("list_size", []))
        since = lists[0] if lists else date(_year(facts["financial_year"]), 4, 1)
        for kind, key in ((RateKind.LMC_STATUTORY, "statutory_pence"),
                          (RateKind.LMC_VOLUNTARY, "voluntary_pence")):  # fmt: skip
            if levy.get(key):
                await schedule_service.record_rate(
                    self.sessionmaker, OPERATOR, kind=kind,
                    scope=facts["practice"]["lmc_code"], effective_from=since,
                    value=Decimal(levy[key]), band_from_pence=0, band_to_pence=None,
                    source=f"{levy.get('lmc_name', 'LMC')}: levy as asked of PCSE",
                    idempotency_key=self.key(), today=self.today,
                )  # fmt: skip

    async def pensions(self, facts: dict[str, Any]) -> None:
        code = self.practice.ods_code
        for estimate in facts.get("estimate", []):
            await pensions_service.record_pension_estimate(
                self.sessionmaker, self.manager, gmc_number=estimate["gmc_number"],
                ods_code=code, financial_year=_year(estimate["year"]),
                pensionable_pay_pence=_pence(estimate["pensionable_pay"]),
                submitted_on=estimate["submitted_on"], idempotency_key=self.key(),
                # Recorded the day it was sent, as a practice records its own submissions
                # (it may date one at most three days back).
                today=estimate["submitted_on"], declared_tier=Decimal(estimate["declared_tier"]),
            )  # fmt: skip
        for certificate in facts.get("certificate", []):
            kind = CERTIFICATES[certificate["type"]]
            await pensions_service.record_pension_certificate(
                self.sessionmaker, OPERATOR, gmc_number=certificate["gmc_number"],
                financial_year=_year(certificate["year"]), certificate_type=kind,
                ods_code=code if kind is CertificateType.TYPE_1 else None,
                submitted_on=certificate["submitted_on"],
                processed_on=certificate.get("processed_on"), idempotency_key=self.key(),
                today=self.today,
            )  # fmt: skip
        for form in facts.get("locum_form", []):
            await pensions_service.record_locum_form(
                self.sessionmaker, self.manager, gmc_number=form["gmc_number"], ods_code=code,
                form=LocumForm.B, work_from=form["work_from"], work_to=form["work_to"],
                submitted_on=form["form_b_submitted_on"],
                bacs_reference=form["bacs_reference"],
                pensionable_pence=_pence(form["pensionable_pay"]), idempotency_key=self.key(),
                today=form["form_b_submitted_on"], income_month=_month(form["form_b_month"]),
            )  # fmt: skip

    async def qof(self, facts: dict[str, Any]) -> None:
        qof = facts.get("qof", {})
        for declaration in facts.get("declaration", []):
            year = _year(declaration["year"])
            prior = qof.get("prior_year") == declaration["year"]
            retired = qof.get("prior_year_retired_indicator_achievement") if prior else None
            paid = declaration.get("aspiration_paid")
            await qof_service.record_qof_declaration(
                self.sessionmaker, self.manager,
                facts=qof_service.DeclarationFacts(
                    ods_code=self.practice.ods_code, financial_year=year,
                    achievement_pence=_pence(declaration["achievement"]),
                    state=DECLARATION_STATES[declaration["state"]],
                    declared_on=declaration.get("declared_on"),
                    approved_on=declaration.get("approved_on"),
                    appealed_on=declaration.get("appealed_on"),
                    retired_pence=None if retired is None else _pence(retired),
                    aspiration_paid_pence=None if paid is None else _pence(paid),
                ),
                idempotency_key=self.key(), today=self.today,
            )  # fmt: skip

    async def claims(self, facts: dict[str, Any]) -> None:
        async with self.sessionmaker() as session:
            components = {p.code: p.component for p in await session.scalars(select(Paycode))}
        for claim in facts.get("claim", []):
            state = CLAIM_STATES[claim["state"]]
            await claims_service.record_claim(
                self.sessionmaker, self.manager,
                facts=claims_service.ClaimFacts(
                    ods_code=self.practice.ods_code, reference=claim["ref"],
                    component=components[claim["paycode"]], paycode=claim["paycode"],
                    description=claim.get("description", claim["ref"]),
                    covers_from=claim["covers_from"], covers_to=claim["covers_to"],
                    amount_pence=_pence(claim["amount"]), claimed_on=claim["claimed_on"],
                    approved_on=claim.get("approved_on"), state=state,
                ),
                idempotency_key=self.key(), today=self.today,
            )  # fmt: skip

    async def statements(self) -> None:
        """The statements as the practice imports them: a run per month's statement."""
        by_period: dict[str, list[dict[str, str]]] = {}
        for row in self.practice.rows:
            by_period.setdefault(row["period"], []).append(row)
        for period, rows in sorted(by_period.items()):
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=self.practice.header, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            await statements_service.import_run(
                self.sessionmaker, self.manager, run_id=f"statement-{period}",
                csv_text=buffer.getvalue(), idempotency_key=None, today=self.today,
                detect=False,
            )  # fmt: skip


# --------------------------------------------------------------------------------------------
# The findings, in the corpus's words


def word(row: Anomaly) -> str:
    if row.kind is AnomalyKind.MISSING:
        return "unpaid_claim" if row.claim_reference else "missing"
    if row.kind is AnomalyKind.INCORRECT_AMOUNT:
        owed = row.direction.value == "owed_to_practice"
        # Short: less reached the practice than was due on a payment, or less was taken than
        # was due on a deduction.
        return "short" if owed != row.component.is_deduction else "over"
    return WORDS[row.kind]


def finding(row: Anomaly) -> Finding:
    return Finding(
        kind=word(row), component=row.component.value, period=f"{row.covers_from:%Y-%m}",
        gmc_number=row.gmc_number or "", amount=f"{Decimal(row.amount_at_stake_pence) / 100:.2f}",
        direction=row.direction.value,
    )  # fmt: skip


CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.usefixtures("client")
async def test_the_corpus(app: FastAPI, case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    practice = case.practice
    monkeypatch.setattr(dates, "today", lambda now=None: practice.as_of)
    await Loader(app, practice).load()

    async with app.state.sessionmaker.begin() as session:
        await detection_service.sync_anomalies(session, [practice.ods_code], today=practice.as_of)
    async with app.state.sessionmaker() as session:
        rows = list(
            await session.scalars(
                select(Anomaly).where(Anomaly.resolved_at.is_(None)).order_by(Anomaly.id)
            )
        )
        forms = list(await session.scalars(select(LocumPensionForm)))

    # The corpus settles one financial year; the next year's monthly payments are left out on
    # purpose, so what falls due in it is not judged here.
    judged = financial_year(practice.as_of) - 1
    found = [finding(row) for row in rows if financial_year(row.covers_from) <= judged]
    described = {finding(row): row.summary for row in rows}
    assert Counter(found) == Counter(case.expected), "\n".join(
        [f"expected {e}" for e in case.expected] + [f"found    {f}: {described[f]}" for f in found]
    )
    if not case.expected:
        # Paid correctly: the locum forms pass PCSE Online's checks too.
        assert [pension_rules.check_locum_form(form).problems for form in forms] == [
            () for _ in forms
        ]
