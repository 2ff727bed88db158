"""Registrations drive the records, through the real gateway: what a practice's export shows is
found automatically (a record not received, a record archived in error, a removal nobody asked
for), and the false alarms practices complained of are no longer raised.

Every expectation below is written out from the rules (the README's records rules table), row
by row: the days before today each fact took effect, and what it must lead to.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import nats.js.errors
import pytest
from nhs_number.validate import calculate_checksum, is_valid
from pcse_kit import dates

if TYPE_CHECKING:
    from stack import Stack

PRACTICE = "A81001"  # in kernow
ELSEWHERE = "F83424"  # in essex
TEN_DIGITS = re.compile(r"(?<!\d)\d{10}(?!\d)")
TODAY = dates.today()
BUS_WAIT_SECONDS = 20.0
# How many of the records stream's latest messages a test reads back.
STREAM_SCAN = 2000

INCIDENTS = """
query ($ods: String!) {
  practice(odsCode: $ods) {
    recordIncidents(first: 100) {
      nodes { reference kind nhsNumber status nextStep daysOffList movementNumber
              registration { event reason effectiveOn } }
    }
  }
}
"""
IMPORT = """
mutation ($input: ImportPatientRegistrationsInput!) {
  importPatientRegistrations(input: $input) {
    odsCode rows added incidentsOpened incidentsResolved replayed
  }
}
"""
REGISTER = """
mutation ($input: PatientRegistrationInput!) {
  recordPatientRegistration(input: $input) {
    id event reason effectiveOn nhsNumber
    incidents { kind status nhsNumber movementNumber nextStep }
  }
}
"""
MOVEMENT_FIELDS = """
  movementNumber status open nhsNumber printoutAttested
  timers { kind startedOn dueOn state }
  incidents { kind odsCode status }
"""


def day(days_ago: int) -> str:
    return (TODAY - timedelta(days=days_ago)).isoformat()


def ask(
    stack: Stack,
    caller: tuple[str, list[str]],
    query: str,
    variables: dict[str, Any],
    *,
    traceparent: str | None = None,
) -> Any:
    role, scope = caller
    headers = {"authorization": f"Bearer {stack.token(role, scope, subject=f'{role}-reg')}"}
    if traceparent is not None:
        headers["traceparent"] = traceparent
    response = httpx.post(
        stack.gateway_url,
        json={"query": query, "variables": variables},
        headers=headers,
        timeout=30,
    )
    return response.json()


def ok(body: Any) -> Any:
    assert "errors" not in body, body
    return body["data"]


PRACTICE_CALLER = ("practice", [PRACTICE])
ELSEWHERE_CALLER = ("practice", [ELSEWHERE])
OPERATOR = ("operator", ["records"])


async def _in_use(stack: Stack) -> set[str]:
    connection = await asyncpg.connect(stack.database_urls["records"])
    try:
        rows = await connection.fetch(
            "SELECT nhs_number FROM movement UNION SELECT nhs_number FROM registration "
            "UNION SELECT found_nhs_number FROM incident WHERE found_nhs_number IS NOT NULL"
        )
    finally:
        await connection.close()
    return {row[0] for row in rows}


def patients(stack: Stack, count: int) -> list[str]:
    """NHS numbers from the test range (999 000 0000 onwards) that no movement or registration
    of this stack has used yet: each test's patients are its own."""
    used = asyncio.run(_in_use(stack))
    rng = random.Random(uuid.uuid4().int)
    found: list[str] = []
    while len(found) < count:
        stem = f"999{rng.randint(0, 999_999):06d}"
        number = f"{stem}{calculate_checksum(stem)}"
        if is_valid(number) and number not in used and number not in found:
            found.append(number)
    return found


def incidents_of(stack: Stack, caller: tuple[str, list[str]], ods: str) -> dict[str, list[Any]]:
    """The practice's incidents by the patient they are about."""
    nodes = ok(ask(stack, caller, INCIDENTS, {"ods": ods}))["practice"]["recordIncidents"]["nodes"]
    found: dict[str, list[Any]] = {}
    for node in nodes:
        if node["nhsNumber"]:
            found.setdefault(node["nhsNumber"], []).append(node)
    return found


def csv_of(rows: list[dict[str, str]]) -> str:
    columns = ["nhs_number", "event", "effective_on", "reason", "removal_requested_on",
               "fp69_flagged_on", "date_of_birth"]  # fmt: skip
    lines = [",".join(columns)]
    lines += [",".join(row.get(c, "") for c in columns) for row in rows]
    return "\n".join(lines) + "\n"


def import_file(stack: Stack, caller: tuple[str, list[str]], ods: str, text: str) -> Any:
    return ask(stack, caller, IMPORT, {"input": {"odsCode": ods, "csv": text}})


def mutate(stack: Stack, caller: tuple[str, list[str]], field: str, values: dict[str, Any]) -> Any:
    type_name = {
        "requestRecordMovement": "RequestMovementInput",
        "updateRecordMovement": "UpdateMovementInput",
        "recordCourierScan": "CourierScanInput",
        "markRecordReady": "MarkReadyInput",
        "confirmRecordReceipt": "ConfirmReceiptInput",
    }[field]
    query = f"mutation ($input: {type_name}!) {{ {field}(input: $input) {{ {MOVEMENT_FIELDS} }} }}"
    if field == "confirmRecordReceipt":
        query = (
            f"mutation ($input: {type_name}!) {{ {field}(input: $input) {{ matched "
            f"movement {{ {MOVEMENT_FIELDS} }} returnMovement {{ movementNumber }} }} }}"
        )
    return ok(ask(stack, caller, query, {"input": values}))[field]


def key() -> str:
    return f"reg-{uuid.uuid4().hex[:12]}"


def labelled_movement(stack: Stack, nhs: str, *, sender: str, receiver: str, deducted: str) -> str:
    """A deduction's movement from ``sender`` to ``receiver`` whose label PCSE has issued."""
    opened = mutate(stack, OPERATOR, "requestRecordMovement", {
        "nhsNumber": nhs, "sending": {"place": "PRACTICE", "odsCode": sender},
        "receiving": {"place": "PRACTICE", "odsCode": receiver},
        "reason": "REGISTRATION_ELSEWHERE", "urgency": "ROUTINE", "deductedOn": deducted,
        "idempotencyKey": key(),
    })  # fmt: skip
    number: str = opened["movementNumber"]
    mutate(stack, OPERATOR, "updateRecordMovement", {
        "movementNumber": number, "labelNumber": f"PCS{uuid.uuid4().hex[:8].upper()}",
        "idempotencyKey": key(),
    })  # fmt: skip
    return number


def test_a_practices_export_finds_what_its_registrations_show_and_nothing_else(
    stack: Stack,
) -> None:
    (x1, x2, x3, x4, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12) = patients(stack, 16)
    # The patient of d12 registered at another practice the day before: a transfer behind it.
    ok(import_file(stack, ELSEWHERE_CALLER, ELSEWHERE, csv_of([
        {"nhs_number": d12, "event": "registered", "effective_on": day(61),
         "reason": "transfer"},
    ])))  # fmt: skip
    # x4's record is on its way: a movement to the practice with its label.
    labelled_movement(stack, x4, sender=ELSEWHERE, receiver=PRACTICE, deducted=day(50))
    rows = [
        # Registered 43 days ago, nothing on its way: past the six weeks (42 days).
        {"nhs_number": x1, "event": "registered", "effective_on": day(43), "reason": "transfer"},
        # 41 days: not yet.
        {"nhs_number": x2, "event": "registered", "effective_on": day(41), "reason": "transfer"},
        # New to the NHS: no record to come.
        {"nhs_number": x3, "event": "registered", "effective_on": day(60),
         "reason": "new_registration"},
        # 50 days, its record labelled and on its way.
        {"nhs_number": x4, "event": "registered", "effective_on": day(50), "reason": "transfer"},
        # A deduction for no reason the practice's system names: an incorrect removal.
        {"nhs_number": d1, "event": "deducted", "effective_on": day(5), "reason": "other"},
        # A removal the practice asked for eight days before: explained.
        {"nhs_number": d2, "event": "deducted", "effective_on": day(12), "reason": "removal",
         "removal_requested_on": day(20)},
        # A removal nobody asked for.
        {"nhs_number": d3, "event": "deducted", "effective_on": day(12), "reason": "removal"},
        # FP69 flagged 3 Nov 2025 (from 1 Oct 2025: three months' notice): due 3 Feb 2026.
        {"nhs_number": d4, "event": "deducted", "effective_on": "2026-02-03", "reason": "fp69",
         "fp69_flagged_on": "2025-11-03"},
        # ...a day early.
        {"nhs_number": d5, "event": "deducted", "effective_on": "2026-02-02", "reason": "fp69",
         "fp69_flagged_on": "2025-11-03"},
        # Flagged 30 Sep 2025, before the change: six months, due 30 Mar 2026; deducted in
        # January.
        {"nhs_number": d6, "event": "deducted", "effective_on": "2026-01-05", "reason": "fp69",
         "fp69_flagged_on": "2025-09-30"},
        # ...and on the day.
        {"nhs_number": d7, "event": "deducted", "effective_on": "2026-03-30", "reason": "fp69",
         "fp69_flagged_on": "2025-09-30"},
        # A child (born 1 Jun 2010, 15 on the day) is never deducted after an FP69.
        {"nhs_number": d8, "event": "deducted", "effective_on": "2026-02-03", "reason": "fp69",
         "fp69_flagged_on": "2025-11-03", "date_of_birth": "2010-06-01"},
        # Death: explained.
        {"nhs_number": d9, "event": "deducted", "effective_on": day(3), "reason": "death"},
        # A transfer 10 days ago: within the four weeks the label takes, no evidence needed yet.
        {"nhs_number": d10, "event": "deducted", "effective_on": day(10), "reason": "transfer"},
        # A transfer 60 days ago with no registration elsewhere and no record moving out.
        {"nhs_number": d11, "event": "deducted", "effective_on": day(60), "reason": "transfer"},
        # A transfer 60 days ago, the patient registered at F83424 the day before.
        {"nhs_number": d12, "event": "deducted", "effective_on": day(60), "reason": "transfer"},
    ]  # fmt: skip
    text = csv_of(rows)

    loaded = ok(import_file(stack, PRACTICE_CALLER, PRACTICE, text))["importPatientRegistrations"]

    assert (loaded["rows"], loaded["added"], loaded["replayed"]) == (16, 16, False)
    found = incidents_of(stack, PRACTICE_CALLER, PRACTICE)
    mine = {n: sorted(i["kind"] for i in found.get(n, [])) for n in (
        x1, x2, x3, x4, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12)}  # fmt: skip
    assert mine == {
        x1: ["RECORD_NOT_RECEIVED"], x2: [], x3: [], x4: [],
        d1: ["INCORRECT_REMOVAL"], d2: [], d3: ["INCORRECT_REMOVAL"], d4: [],
        d5: ["INCORRECT_REMOVAL"], d6: ["INCORRECT_REMOVAL"], d7: [],
        d8: ["INCORRECT_REMOVAL"], d9: [], d10: [], d11: ["INCORRECT_REMOVAL"], d12: [],
    }  # fmt: skip
    [removed] = found[d1]
    assert removed["status"] == "OPEN"
    assert removed["movementNumber"] is None
    assert removed["registration"] == {"event": "DEDUCTED", "reason": "OTHER",
                                       "effectiveOn": day(5)}  # fmt: skip
    assert removed["daysOffList"] == 5
    assert "register them again" in removed["nextStep"]
    [missing] = found[x1]
    assert "enquiry with PCSE" in missing["nextStep"]

    # The same file again changes nothing.
    again = ok(import_file(stack, PRACTICE_CALLER, PRACTICE, text))["importPatientRegistrations"]
    assert (again["added"], again["replayed"]) == (16, True)
    assert incidents_of(stack, PRACTICE_CALLER, PRACTICE) == found

    # d1 is registered again: the removal is put right, with the days the list lost it.
    register = {"odsCode": PRACTICE, "nhsNumber": d1, "event": "REGISTERED",
                "effectiveOn": day(2), "reason": "TRANSFER", "idempotencyKey": key()}  # fmt: skip
    ok(ask(stack, PRACTICE_CALLER, REGISTER, {"input": register}))
    [back] = incidents_of(stack, PRACTICE_CALLER, PRACTICE)[d1]
    assert (back["status"], back["daysOffList"], back["nextStep"]) == ("RESOLVED", 3, None)


def test_a_bad_export_is_refused_whole_with_every_bad_row_and_writes_nothing(
    stack: Stack,
) -> None:
    [good, other] = patients(stack, 2)
    text = csv_of([
        {"nhs_number": good, "event": "registered", "effective_on": day(1), "reason": "transfer"},
        {"nhs_number": "9876544321", "event": "registered", "effective_on": day(1),
         "reason": "transfer"},
        {"nhs_number": other, "event": "registered", "effective_on": day(1), "reason": "fp69"},
        {"nhs_number": other, "event": "deducted", "effective_on": day(-1), "reason": "death"},
    ])  # fmt: skip

    body = import_file(stack, PRACTICE_CALLER, PRACTICE, text)

    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "csv"
    assert [(r["row"], r["field"]) for r in error["extensions"]["rows"]] == [
        (3, "nhs_number"),
        (4, "reason"),
        (5, "effective_on"),
    ]
    assert "9876544321" not in str(body)
    assert good not in asyncio.run(_in_use(stack))


def test_a_record_in_storage_for_a_registered_patient_is_archived_in_error(
    stack: Stack,
) -> None:
    [stored, recent] = patients(stack, 2)
    for patient in (stored, recent):
        # The patient emigrated from F83424 and the record went to central storage.
        number = mutate(stack, OPERATOR, "requestRecordMovement", {
            "nhsNumber": patient, "sending": {"place": "PRACTICE", "odsCode": ELSEWHERE},
            "receiving": {"place": "CENTRAL_STORAGE"}, "reason": "EMIGRATION",
            "urgency": "ROUTINE", "deductedOn": day(200), "idempotencyKey": key(),
        })["movementNumber"]  # fmt: skip
        mutate(stack, OPERATOR, "updateRecordMovement", {
            "movementNumber": number, "status": "READY_FOR_COLLECTION",
            "idempotencyKey": key(),
        })  # fmt: skip
        now = datetime.now(UTC)
        for kind, at in (("COLLECTION", now), ("DELIVERY", now + timedelta(seconds=1))):
            stored_movement = mutate(stack, OPERATOR, "recordCourierScan", {
                "scanId": f"s-{uuid.uuid4().hex[:10]}", "movementNumber": number,
                "kind": kind, "scannedAt": at.isoformat(),
            })  # fmt: skip
        assert stored_movement["status"] == "DELIVERED"

    # Back in England and registered here 50 days ago (over six weeks): the record should have
    # been released.
    registered = {"odsCode": PRACTICE, "nhsNumber": stored, "event": "REGISTERED",
                  "effectiveOn": day(50), "reason": "TRANSFER",
                  "idempotencyKey": key()}  # fmt: skip
    ok(ask(stack, PRACTICE_CALLER, REGISTER, {"input": registered}))
    # Registered 20 days ago: PCSE still has time to release it.
    recent_input = {**registered, "nhsNumber": recent, "effectiveOn": day(20),
                    "idempotencyKey": key()}  # fmt: skip
    ok(ask(stack, PRACTICE_CALLER, REGISTER, {"input": recent_input}))

    found = incidents_of(stack, PRACTICE_CALLER, PRACTICE)
    [archived] = found[stored]
    assert (archived["kind"], archived["status"]) == ("ERRONEOUS_ARCHIVING", "OPEN")
    assert "release the record" in archived["nextStep"]
    assert recent not in found
    worklist_query = """query ($ods: String!) { practice(odsCode: $ods) {
        harmReviews { items(outstandingOnly: true, first: 100) {
          nodes { id nhsNumber source incidentReference recordArrived dueOn } } } } }"""
    worklist = ok(ask(stack, PRACTICE_CALLER, worklist_query, {"ods": PRACTICE}))
    items = worklist["practice"]["harmReviews"]["items"]["nodes"]
    [item] = [i for i in items if i["nhsNumber"] == stored]
    review_id = item.pop("id")
    assert item == {
        "nhsNumber": stored,
        "source": "DETECTED",
        "incidentReference": archived["reference"],
        "recordArrived": False,
        "dueOn": (TODAY + timedelta(days=30)).isoformat(),
    }

    # The practice records its time and that the patient was told; it cannot grade the harm
    # while the record is still in storage, and that refusal changes nothing.
    review = {"reviewId": review_id, "minutesSpent": 25, "patientInformed": True,
              "nhsEnglandNotified": False, "idempotencyKey": key()}  # fmt: skip
    recorded = ok(ask(stack, PRACTICE_CALLER, HARM_REVIEW, {"input": review}))
    assert recorded["recordHarmReview"] == {
        "minutesSpent": 25, "patientInformed": True, "harmGrade": None, "recordArrived": False,
    }  # fmt: skip
    completing = {**review, "minutesSpent": 40, "harmGrade": "NONE", "reviewer": "Dr A Patel",
                  "reviewedOn": TODAY.isoformat(), "idempotencyKey": key()}  # fmt: skip
    refused = ask(stack, PRACTICE_CALLER, HARM_REVIEW, {"input": completing})
    [error] = refused["errors"]
    assert (error["extensions"]["code"], error["extensions"]["field"]) == (
        "BAD_USER_INPUT",
        "harmGrade",
    )
    again = ok(ask(stack, PRACTICE_CALLER, worklist_query, {"ods": PRACTICE}))
    [still] = [
        i for i in again["practice"]["harmReviews"]["items"]["nodes"] if i["id"] == review_id
    ]
    assert still["recordArrived"] is False


HARM_REVIEW = """
mutation ($input: HarmReviewInput!) {
  recordHarmReview(input: $input) { minutesSpent patientInformed harmGrade recordArrived }
}
"""


def test_gp2gp_is_due_at_the_end_of_calendar_day_eight(stack: Stack) -> None:
    """Not eight working days: the sender is prompted at the end of day 8 (GP2GP 2.2)."""
    [patient] = patients(stack, 1)
    number = labelled_movement(stack, patient, sender=ELSEWHERE, receiver=PRACTICE,
                               deducted=day(2))  # fmt: skip
    electronic = mutate(stack, OPERATOR, "updateRecordMovement", {
        "movementNumber": number, "status": "NO_PAPER_RECORD", "idempotencyKey": key(),
    })  # fmt: skip
    timers = {t["kind"]: t for t in electronic["timers"]}
    # Started today, day 1 is tomorrow: due today + 8 calendar days, weekends and bank
    # holidays included (eight working days would be ten calendar days or more).
    assert timers["GP2GP"]["startedOn"] == TODAY.isoformat()
    assert timers["GP2GP"]["dueOn"] == (TODAY + timedelta(days=8)).isoformat()
    assert timers["GP2GP"]["state"] == "RUNNING"


def test_the_empty_envelope_false_alarm_is_gone_and_an_unconfirmed_one_remains(
    stack: Stack,
) -> None:
    [confirmed, unconfirmed] = patients(stack, 2)
    results = {}
    for patient, attest in ((confirmed, True), (unconfirmed, None)):
        number = mutate(stack, PRACTICE_CALLER, "requestRecordMovement", {
            "nhsNumber": patient, "sending": {"place": "PRACTICE", "odsCode": PRACTICE},
            "receiving": {"place": "SCOTLAND"}, "reason": "EMIGRATION", "urgency": "ROUTINE",
            "deductedOn": day(10), "idempotencyKey": key(),
        })["movementNumber"]  # fmt: skip
        if attest:
            ready = mutate(stack, PRACTICE_CALLER, "markRecordReady", {
                "movementNumber": number, "printoutIncluded": True, "idempotencyKey": key(),
            })  # fmt: skip
            assert ready["printoutAttested"] is True
        else:
            mutate(stack, OPERATOR, "updateRecordMovement", {
                "movementNumber": number, "status": "READY_FOR_COLLECTION",
                "idempotencyKey": key(),
            })  # fmt: skip
        collected = mutate(stack, OPERATOR, "recordCourierScan", {
            "scanId": f"s-{uuid.uuid4().hex[:10]}", "movementNumber": number,
            "kind": "COLLECTION", "scannedAt": datetime.now(UTC).isoformat(),
        })  # fmt: skip
        results[attest] = collected["incidents"]
    # The courier cannot see inside the bag: a collection raises nothing when the sending
    # practice confirmed the printout, and an empty-envelope incident only when it did not.
    assert results == {
        True: [],
        None: [{"kind": "EMPTY_ENVELOPE", "odsCode": PRACTICE, "status": "OPEN"}],
    }


BACKLOG = """
query ($ods: String!) { practice(odsCode: $ods) { recordsBacklog {
  incoming { open inTransit missing lost inStorage wrongRecord }
} } }
"""


def incoming(stack: Stack) -> dict[str, int]:
    body = ok(ask(stack, PRACTICE_CALLER, BACKLOG, {"ods": PRACTICE}))
    counts: dict[str, int] = body["practice"]["recordsBacklog"]["incoming"]
    return counts


def test_a_wrong_record_a_lost_one_and_one_in_storage_stay_in_the_backlog(stack: Stack) -> None:
    [wrong, third, lost, stored] = patients(stack, 4)
    before = incoming(stack)
    numbers = {}
    for patient in (wrong, lost, stored):
        number = labelled_movement(
            stack, patient, sender=ELSEWHERE, receiver=PRACTICE, deducted=day(5)
        )
        mutate(stack, OPERATOR, "updateRecordMovement", {
            "movementNumber": number, "status": "READY_FOR_COLLECTION",
            "idempotencyKey": key(),
        })  # fmt: skip
        mutate(stack, OPERATOR, "recordCourierScan", {
            "scanId": f"s-{uuid.uuid4().hex[:10]}", "movementNumber": number,
            "kind": "COLLECTION", "scannedAt": datetime.now(UTC).isoformat(),
        })  # fmt: skip
        numbers[patient] = number
    # The courier delivers, and the envelope holds a third patient's record.
    mutate(stack, OPERATOR, "recordCourierScan", {
        "scanId": f"s-{uuid.uuid4().hex[:10]}", "movementNumber": numbers[wrong],
        "kind": "DELIVERY", "scannedAt": datetime.now(UTC).isoformat(),
    })  # fmt: skip
    receipt = mutate(stack, PRACTICE_CALLER, "confirmRecordReceipt", {
        "movementNumber": numbers[wrong], "nhsNumber": third, "idempotencyKey": key(),
    })  # fmt: skip
    assert receipt["matched"] is False
    assert (receipt["movement"]["status"], receipt["movement"]["open"]) == (
        "WRONG_RECORD_DELIVERED",
        True,
    )
    assert receipt["returnMovement"]["movementNumber"]
    # Another goes missing on the way, and is declared lost; the third is taken to central
    # storage instead of on to the practice.
    for status in ("MISSING", "LOST"):
        mutate(stack, OPERATOR, "updateRecordMovement", {
            "movementNumber": numbers[lost], "status": status, "idempotencyKey": key(),
        })  # fmt: skip
    mutate(stack, OPERATOR, "updateRecordMovement", {
        "movementNumber": numbers[stored], "status": "IN_CENTRAL_STORAGE", "idempotencyKey": key(),
    })  # fmt: skip

    after = incoming(stack)
    assert {k: after[k] - before[k] for k in after} == {
        "open": 3,
        "inTransit": 0,
        "missing": 0,
        "lost": 1,
        "inStorage": 1,
        "wrongRecord": 1,
    }


def test_a_record_marked_ready_runs_the_collection_timer(stack: Stack) -> None:
    [patient] = patients(stack, 1)
    number = labelled_movement(stack, patient, sender=PRACTICE, receiver=ELSEWHERE,
                               deducted=day(3))  # fmt: skip
    ready = mutate(stack, PRACTICE_CALLER, "markRecordReady", {
        "movementNumber": number, "idempotencyKey": key(),
    })  # fmt: skip
    timers = {t["kind"]: t for t in ready["timers"]}
    assert timers["COLLECTION"]["startedOn"] == TODAY.isoformat()
    assert timers["COLLECTION"]["state"] == "RUNNING"
    # Due within the following Monday-to-Friday week.
    due = date.fromisoformat(timers["COLLECTION"]["dueOn"])
    following_monday = TODAY - timedelta(days=TODAY.weekday()) + timedelta(weeks=1)
    assert following_monday <= due <= following_monday + timedelta(days=4)


def test_registrations_are_published_without_the_patient(stack: Stack) -> None:
    [patient] = patients(stack, 1)
    register = {"odsCode": PRACTICE, "nhsNumber": patient, "event": "REGISTERED",
                "effectiveOn": day(1), "reason": "NEW_REGISTRATION",
                "idempotencyKey": key()}  # fmt: skip
    # The caller's trace: the event goes out within it.
    trace_id = uuid.uuid4().hex
    traced = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    registered = ok(ask(stack, PRACTICE_CALLER, REGISTER, {"input": register}, traceparent=traced))
    registration_id = int(registered["recordPatientRegistration"]["id"])
    assert registered["recordPatientRegistration"]["nhsNumber"] == patient

    async def published() -> list[tuple[str, dict[str, Any], dict[str, str]]]:
        """The records stream on the broker, newest first, as its reader sees it: each
        message's subject, body and headers."""
        bus = stack.bus("reader")
        try:
            js = await bus.jetstream()
            try:
                info = await js.stream_info("records")
            except nats.js.errors.NotFoundError:
                return []
            messages: list[tuple[str, dict[str, Any], dict[str, str]]] = []
            first = max(info.state.first_seq, info.state.last_seq - STREAM_SCAN + 1)
            for seq in range(info.state.last_seq, first - 1, -1):
                message = await js.get_msg("records", seq)
                headers = message.headers or {}
                body = json.loads(message.data or b"null")
                messages.append((message.subject or "", body, dict(headers)))
            return messages
        finally:
            await bus.close()

    deadline = time.monotonic() + BUS_WAIT_SECONDS
    while True:
        events = asyncio.run(published())
        mine = [e for e in events if e[1]["payload"].get("registrationId") == registration_id]
        if mine or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    [(subject, event, headers)] = mine
    # Relayed from the records outbox onto the records stream, under its own subject, within
    # the trace of the request that recorded it.
    assert subject == "records.registration.registered"
    assert headers["Nats-Msg-Id"] == event["eventId"]
    assert headers["traceparent"].split("-")[1] == trace_id
    assert (event["type"], event["key"]) == ("registration.registered", PRACTICE)
    assert event["payload"] == {
        "registrationId": registration_id,
        "odsCode": PRACTICE,
        "event": "registered",
        "effectiveOn": day(1),
        "reason": "new_registration",
        "source": "keyed",
    }
    assert [e for _, e, _ in events if TEN_DIGITS.search(json.dumps(e["payload"]))] == []
    assert not any(TEN_DIGITS.search(e["key"]) for _, e, _ in events)


@pytest.mark.parametrize("caller", [("practice", [ELSEWHERE]), ("lmc", ["kernow"])])
def test_another_practice_and_an_lmc_cannot_see_the_registrations(
    stack: Stack, caller: tuple[str, list[str]]
) -> None:
    query = """query ($ods: String!) { practice(odsCode: $ods) {
        patientRegistrations(first: 5) { nodes { nhsNumber } } } }"""
    body = ask(stack, caller, query, {"ods": PRACTICE})
    assert (
        body["data"]["practice"] is None or body["data"]["practice"]["patientRegistrations"] is None
    )
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}


FEED = """
mutation ($input: ImportFeedInput!) {
  importRecordsFeed(input: $input) {
    feedId lines movementsOpened movementsChanged scans incidents replayed
  }
}
"""


def test_a_feed_is_applied_through_the_gateway_once(stack: Stack) -> None:
    [patient] = patients(stack, 1)
    number = f"MN{uuid.uuid4().int % 10**10:010d}"
    at = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0).isoformat()
    columns = "type,movement_number,at,scan_id,status,label_number,nhs_number,sending_place,"
    columns += "sending_ods_code,receiving_place,receiving_ods_code,reason,deducted_on"
    text = "\n".join([
        columns,
        f"opened,{number},{at},,,,{patient},practice,{ELSEWHERE},practice,{PRACTICE},"
        f"registration_elsewhere,{day(1)}",
        f"label,{number},{at},,,PCS12345678,,,,,,,",
        f"status,{number},{at},,ready_for_collection,,,,,,,,",
        f"collection,{number},{at},SC-{number},,,,,,,,,",
    ]) + "\n"  # fmt: skip
    variables = {"input": {"feedId": f"FEED-{number}", "csv": text}}

    applied = ok(ask(stack, OPERATOR, FEED, variables))["importRecordsFeed"]
    again = ok(ask(stack, OPERATOR, FEED, variables))["importRecordsFeed"]

    assert applied == {"feedId": f"FEED-{number}", "lines": 4, "movementsOpened": 1,
                       "movementsChanged": 0, "scans": 1, "incidents": 0,
                       "replayed": False}  # fmt: skip
    assert again == {**applied, "replayed": True}
    seen = ask(stack, PRACTICE_CALLER, """query ($n: String!) { recordMovement(movementNumber: $n)
        { status nhsNumber history { kind } } }""", {"n": number})  # fmt: skip
    movement = ok(seen)["recordMovement"]
    assert (movement["status"], movement["nhsNumber"]) == ("COLLECTED", patient)
    assert [h["kind"] for h in movement["history"]] == [
        "REQUESTED", "LABEL_ISSUED", "STATUS_CHANGED", "COLLECTION_SCANNED",
    ]  # fmt: skip


LIFECYCLE = """
mutation ($raise: RaiseIncidentInput!) {
  raiseRecordIncidentWithPcse(input: $raise) {
    reference status pcseReference raisedOn escalatable escalatableFrom nextStep
  }
}
"""


def test_an_incident_is_raised_with_pcse_and_escalatable_after_forty_days(stack: Stack) -> None:
    open_incidents = """{ practice(odsCode: "A81001") { recordIncidents(first: 100,
        status: [OPEN], kind: [LABEL_NOT_RECEIVED]) { nodes { reference reportedAt } } } }"""
    nodes = ok(ask(stack, PRACTICE_CALLER, open_incidents, {}))["practice"]["recordIncidents"]
    # The demo's label not received, reported over a month ago.
    oldest = min(nodes["nodes"], key=lambda n: n["reportedAt"])
    reported = datetime.fromisoformat(oldest["reportedAt"]).date()
    raised_on = reported + timedelta(days=1)
    variables = {"raise": {"reference": oldest["reference"], "pcseReference": "CAS-7654321",
                           "raisedOn": raised_on.isoformat(), "idempotencyKey": key()}}  # fmt: skip

    raised = ok(ask(stack, PRACTICE_CALLER, LIFECYCLE, variables))["raiseRecordIncidentWithPcse"]

    escalatable_from = raised_on + timedelta(days=41)
    assert raised["status"] == "RAISED_WITH_PCSE"
    assert raised["escalatableFrom"] == escalatable_from.isoformat()
    assert raised["escalatable"] is (escalatable_from <= TODAY)
    assert raised["nextStep"].startswith("PCSE has it (CAS-7654321)")
    # An LMC may not raise it.
    refused = ask(stack, ("lmc", ["kernow"]), LIFECYCLE, variables)
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"]
