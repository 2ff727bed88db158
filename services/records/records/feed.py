"""The daily feed of movement updates and courier scans: a CSV, applied all or nothing with COPY.

PCSE's day of record movements nationally (about 25,000 lines on a working day) comes as one
file. The format (UTF-8, comma-separated, a header row with these names in any order; a line
uses the cells its ``type`` needs and ignores the rest):

====================  ==========================================================================
column                value
====================  ==========================================================================
type                  ``opened``, ``status``, ``label``, ``collection``, ``delivery`` or
                      ``cancelled``
movement_number       the movement (4-20 capital letters and digits); new on an ``opened`` line
at                    when it happened, ISO 8601 with its time zone (``2026-11-20T09:15:00Z``)
scan_id               ``collection`` / ``delivery``: the courier's own id for the scan
status                ``status``: ``in_progress``, ``ready_for_collection``, ``no_paper_record``,
                      ``missing``, ``lost``, ``in_central_storage`` or
                      ``in_storage_at_practice`` (collected and delivered come from scans,
                      cancelled from a ``cancelled`` line)
printout_included     ``status`` to ``ready_for_collection`` for another UK nation: ``true`` or
                      ``false``, the sending practice's confirmation that the printout is in
                      the envelope
label_number          ``label`` (required) or ``status``: the PCS number of the label pack
note                  ``cancelled``: why (required)
nhs_number            ``opened``: the patient
sending_place,        ``opened``: ``practice``, ``central_storage``, ``wales``, ``scotland`` or
receiving_place       ``northern_ireland``
sending_ods_code,     ``opened``: the practice at a practice end (and its branch site, if the
sending_site_code,    record is there)
receiving_ods_code,
receiving_site_code
reason                ``opened``: ``registration_elsewhere``, ``emigration``, ``death`` or
                      ``request``
urgency               ``opened``: ``routine`` (the default) or ``urgent``
deducted_on           ``opened``: the deduction's date, for a deduction and only then
====================  ==========================================================================

Lines apply in file order, each under the same rules as the mutations (the status changes the
table in ``records.rules`` allows, scans once per scan id, the empty-envelope check at a
collection for another UK nation). One bad line refuses the whole file with a report of every
bad line; nothing is written. The same feed id and file again changes nothing and returns the
first result; the same id with another file is a conflict.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Final

from pcse_kit import audit, dates
from pcse_kit.errors import BadUserInput, ClientError, Conflict
from pcse_kit.identifiers import free_text
from sqlalchemy import func, literal, select, text

from records import detection, identifiers, policy, rules, service, timers
from records.models import (
    DEDUCTIONS,
    AuditEvent,
    Feed,
    HistoryKind,
    IdempotencyKey,
    Movement,
    MovementReason,
    MovementStatus,
    Place,
    Scan,
    ScanKind,
    Urgency,
)
from records.registrations import FileRejected, RowError

if TYPE_CHECKING:
    from collections.abc import Callable

    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

S = MovementStatus
COLUMNS: Final = (
    "type", "movement_number", "at", "scan_id", "status", "printout_included", "label_number",
    "note", "nhs_number", "sending_place", "sending_ods_code", "sending_site_code",
    "receiving_place", "receiving_ods_code", "receiving_site_code", "reason", "urgency",
    "deducted_on",
)  # fmt: skip
TYPES: Final = ("opened", "status", "label", "collection", "delivery", "cancelled")
FEED_STATUSES: Final = (
    frozenset(S)
    - rules.FROM_SCANS
    - rules.FROM_RECEIPT
    - {
        S.CANCELLED,
        S.REQUESTED,
    }
)
MAX_REPORTED_LINES: Final = 200
MAX_REQUEST_CHARACTERS: Final = 60_000
"""What fits through the gateway in one request; a day's feed goes by the command line."""
_FEED_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_SCAN_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_LABEL = re.compile(r"[A-Z0-9-]{4,20}")
_PLACES: Final = {p.value: p for p in Place}
_REASONS: Final = {
    r.value: r for r in MovementReason if r is not MovementReason.WRONG_RECORD_RETURN
}
_URGENCIES: Final = {u.value: u for u in Urgency}
_STATUSES: Final = {s.value: s for s in FEED_STATUSES}
_BOOLEANS: Final = {"true": True, "false": False, "yes": True, "no": False}
ACTOR_NOTE: Final = "daily feed"


@dataclass(frozen=True)
class Line:
    number: int
    """The file's line number (the header is line 1)."""
    type: str
    movement_number: str
    at: datetime
    cells: dict[str, str]


@dataclass
class ParsedFeed:
    lines: list[Line] = field(default_factory=list)
    digest: str = ""


@dataclass(frozen=True)
class FeedResult:
    feed_id: str
    lines: int
    movements_opened: int
    movements_changed: int
    scans: int
    incidents: int
    replayed: bool = False


class FeedRejected(FileRejected):
    """A feed with bad lines: nothing of it was applied."""


def feed_id(value: str) -> str:
    if not _FEED_ID.fullmatch(value):
        raise BadUserInput("`feedId` must be 1-64 letters, digits or . _ : -", field="feedId")
    return value


def _instant(value: str, now: datetime) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("needs a time zone")
    if parsed > now + service.CLOCK_SKEW:
        raise ValueError("in the future")
    return parsed.astimezone(UTC)


def parse(text_: str, *, now: datetime) -> ParsedFeed:  # noqa: PLR0912 - one check per cell
    """Every line's cells checked for their form; :class:`FeedRejected` if any is wrong. The
    rules that need the movements (status changes, scans) are checked when it is applied."""
    errors: list[RowError] = []
    total = 0

    def fail(row: int, name: str, message: str) -> None:
        nonlocal total
        total += 1
        if len(errors) < MAX_REPORTED_LINES:
            errors.append(RowError(row, name, message))

    reader = csv.DictReader(io.StringIO(text_.removeprefix("\ufeff"), newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = header
    for column in ("type", "movement_number", "at"):
        if column not in header:
            fail(1, column, "required column missing from the header")
    for column in header:
        if column not in COLUMNS:
            fail(1, column, "not a column of the feed format")
    if total:
        raise FeedRejected(errors, total=total)
    parsed = ParsedFeed(digest=hashlib.sha256(text_.encode()).hexdigest())
    for row in reader:
        number = reader.line_num
        if None in row:
            fail(number, "row", "more cells than the header has columns")
            continue
        cells = {name: (value or "").strip() for name, value in row.items() if name}
        kind, movement_number = cells.get("type", ""), cells.get("movement_number", "")
        bad = False
        if kind not in TYPES:
            fail(number, "type", f"must be one of {', '.join(TYPES)}")
            bad = True
        try:
            identifiers.movement_number(movement_number)
        except BadUserInput:
            fail(number, "movement_number", "not a movement number (4-20 capitals and digits)")
            bad = True
        try:
            at = _instant(cells.get("at", ""), now)
        except ValueError as error:
            fail(number, "at", f"not a time with its zone, or {error}")
            bad = True
        if not bad:
            line = Line(number, kind, movement_number, at, cells)
            message = _check_cells(line)
            if message is not None:
                fail(number, *message)
            else:
                parsed.lines.append(line)
    if not parsed.lines and not total:
        fail(1, "csv", "the feed has no lines")
    if total:
        raise FeedRejected(errors, total=total)
    return parsed


def _check_cells(line: Line) -> tuple[str, str] | None:  # noqa: PLR0911 - one check per cell
    """The first cell of ``line`` its type needs and lacks, or has wrong: (column, message)."""
    cell = line.cells.get
    if line.type in {"collection", "delivery"}:
        if not _SCAN_ID.fullmatch(cell("scan_id", "")):
            return "scan_id", "1-64 letters, digits or . _ : -"
    elif line.type == "status":
        if cell("status", "") not in _STATUSES:
            return "status", f"not a status the feed sets: {', '.join(sorted(_STATUSES))}"
        if cell("printout_included") and cell("printout_included", "").lower() not in _BOOLEANS:
            return "printout_included", "true or false"
        if cell("label_number") and not _LABEL.fullmatch(cell("label_number", "")):
            return "label_number", "4-20 capital letters, digits or hyphens"
    elif line.type == "label":
        if not _LABEL.fullmatch(cell("label_number", "")):
            return "label_number", "4-20 capital letters, digits or hyphens"
    elif line.type == "cancelled":
        try:
            free_text(cell("note", ""), field="note", limit=300)
        except BadUserInput as error:
            return "note", error.message
    elif line.type == "opened":
        return _check_opened(line)
    return None


def _check_opened(line: Line) -> tuple[str, str] | None:
    cell = line.cells.get
    try:
        identifiers.nhs_number(cell("nhs_number", ""))
    except BadUserInput:
        return "nhs_number", "not an NHS number (ten digits with a valid check digit)"
    for end in ("sending", "receiving"):
        if cell(f"{end}_place", "") not in _PLACES:
            return f"{end}_place", "practice, central_storage, wales, scotland or northern_ireland"
    if cell("reason", "") not in _REASONS:
        return "reason", "registration_elsewhere, emigration, death or request"
    if (cell("urgency") or Urgency.ROUTINE.value) not in _URGENCIES:
        return "urgency", "routine or urgent"
    if cell("deducted_on"):
        try:
            date.fromisoformat(cell("deducted_on", ""))
        except ValueError:
            return "deducted_on", "not a date (YYYY-MM-DD)"
    return None


# --------------------------------------------------------------------------------------------
# Applying


@dataclass
class _Replay:
    """The feed played over the movements it names, in memory, before anything is written."""

    principal: Principal
    targets: timers.Targets
    today: date
    movements: dict[str, Movement]
    new_ids: list[int]
    known_scans: dict[str, tuple[str, ScanKind, datetime]]
    before: dict[str, dict[str, Any]] = field(default_factory=dict)
    opened: list[Movement] = field(default_factory=list)
    history: list[tuple[Any, ...]] = field(default_factory=list)
    scans: list[tuple[Any, ...]] = field(default_factory=list)
    empty_envelopes: list[tuple[Movement, datetime]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    problems: int = 0

    def fail(self, line: Line, name: str, message: str) -> None:
        self.problems += 1
        if len(self.errors) < MAX_REPORTED_LINES:
            self.errors.append(RowError(line.number, name, message))

    def record(
        self,
        movement: Movement,
        kind: HistoryKind,
        at: datetime,
        *,
        before: MovementStatus | None = None,
        after: MovementStatus | None = None,
        note: str | None = None,
    ) -> None:
        self.history.append(
            (movement.id, kind, at, before, after, self.principal.subject,
             str(self.principal.role), note)
        )  # fmt: skip

    def apply(self, line: Line) -> None:
        handler: Callable[[Line], None] = getattr(self, f"_{line.type}")
        try:
            if line.type != "opened" and line.movement_number not in self.movements:
                raise BadUserInput("no such movement", field="movement_number")
            handler(line)
        except ClientError as error:
            self.fail(line, _column(error.field), error.message)

    def _movement(self, line: Line) -> Movement:
        movement = self.movements[line.movement_number]
        if movement.movement_number not in self.before:
            self.before[movement.movement_number] = service.movement_values(movement)
        return movement

    def _opened(self, line: Line) -> None:
        if line.movement_number in self.movements:
            raise BadUserInput("this movement already exists", field="movement_number")
        cell = line.cells.get
        sending = _end(line, "sending")
        receiving = _end(line, "receiving")
        service.check_ends(sending, receiving)
        reason = _REASONS[cell("reason", "")]
        deducted_on = date.fromisoformat(cell("deducted_on", "")) if cell("deducted_on") else None
        if (reason in DEDUCTIONS) != (deducted_on is not None):
            raise BadUserInput(
                "`deducted_on` is required after a deduction and only then.", field="deductedOn"
            )
        if deducted_on is not None and deducted_on > self.today:
            raise BadUserInput("`deducted_on` cannot be in the future.", field="deductedOn")
        movement = Movement(
            id=self.new_ids.pop(0),
            movement_number=line.movement_number,
            nhs_number=identifiers.nhs_number(cell("nhs_number", "")),
            sender_place=sending.place,
            sender_ods_code=sending.ods_code,
            sender_site_code=sending.site_code,
            receiver_place=receiving.place,
            receiver_ods_code=receiving.ods_code,
            receiver_site_code=receiving.site_code,
            reason=reason,
            urgency=_URGENCIES[cell("urgency") or Urgency.ROUTINE.value],
            status=S.REQUESTED,
            requested_at=line.at,
            status_changed_at=line.at,
            deducted_on=deducted_on,
            nhs_number_to_sender_only=False,
        )
        self.movements[line.movement_number] = movement
        self.before[line.movement_number] = {}
        self.opened.append(movement)
        self.record(movement, HistoryKind.REQUESTED, line.at, after=S.REQUESTED, note=ACTOR_NOTE)

    def _status(self, line: Line) -> None:
        movement = self._movement(line)
        target = _STATUSES[line.cells["status"]]
        printout = line.cells.get("printout_included", "")
        current = service.transition(movement, target, at=line.at)
        self.record(movement, HistoryKind.STATUS_CHANGED, line.at, before=current, after=target)
        if target is S.READY_FOR_COLLECTION:
            movement.printout_attested = _BOOLEANS[printout.lower()] if printout else None
        elif printout:
            raise BadUserInput("only when marked ready for collection", field="printoutIncluded")
        if line.cells.get("label_number"):
            self._label(line)

    def _label(self, line: Line) -> None:
        movement = self._movement(line)
        movement.label_number = line.cells["label_number"]
        movement.label_issued_on = dates.local_date(line.at)
        self.record(
            movement, HistoryKind.LABEL_ISSUED, line.at, note=f"PCS {movement.label_number}"
        )

    def _collection(self, line: Line) -> None:
        self._scan(line, ScanKind.COLLECTION)

    def _delivery(self, line: Line) -> None:
        self._scan(line, ScanKind.DELIVERY)

    def _scan(self, line: Line, kind: ScanKind) -> None:
        movement = self._movement(line)
        scan_id = line.cells["scan_id"]
        seen = self.known_scans.get(scan_id)
        if seen is not None:
            if seen != (movement.movement_number, kind, line.at):
                raise Conflict("this scan id was recorded for a different scan", field="scanId")
            return
        current = service.scan_transition(movement, kind, at=line.at)
        history = (
            HistoryKind.COLLECTION_SCANNED
            if kind is ScanKind.COLLECTION
            else HistoryKind.DELIVERY_SCANNED
        )
        self.record(movement, history, line.at, before=current, after=movement.status)
        self.known_scans[scan_id] = (movement.movement_number, kind, line.at)
        self.scans.append((scan_id, movement.id, kind, line.at))
        if service.empty_envelope(movement, kind):
            self.empty_envelopes.append((movement, line.at))

    def _cancelled(self, line: Line) -> None:
        movement = self._movement(line)
        current = service.transition(movement, S.CANCELLED, at=line.at)
        self.record(
            movement, HistoryKind.CANCELLED, line.at, before=current, after=S.CANCELLED,
            note=free_text(line.cells["note"], field="note", limit=300),
        )  # fmt: skip


def _column(name: str | None) -> str:
    return {
        "scannedAt": "at",
        "deductedOn": "deducted_on",
        "printoutIncluded": "printout_included",
        "scanId": "scan_id",
        "sending.odsCode": "sending_ods_code",
        "receiving.odsCode": "receiving_ods_code",
        "sending.siteCode": "sending_site_code",
        "receiving.siteCode": "receiving_site_code",
        "receiving.place": "receiving_place",
        "movementNumber": "movement_number",
        None: "row",
    }.get(name, name or "row")


def _end(line: Line, end: str) -> service.End:
    cell = line.cells.get
    code = cell(f"{end}_ods_code") or None
    site = cell(f"{end}_site_code") or None
    return service.End(
        place=_PLACES[cell(f"{end}_place", "")],
        ods_code=None if code is None else identifiers.ods_code(code, field=f"{end}.odsCode"),
        site_code=None if site is None else identifiers.site_code(site, field=f"{end}.siteCode"),
    )


MOVEMENT_COLUMNS: Final = tuple(
    column.key for column in Movement.__table__.columns if column.key != "is_open"
)
CHANGED_COLUMNS: Final = (
    "status", "status_changed_at", "label_number", "label_issued_on", "collected_at",
    "delivered_at", "received_at", "gp2gp_started_on", "search_started_on", "ready_at",
    "printout_attested", "label_due_on", "delivery_due_on", "gp2gp_due_on", "urgent_due_on",
    "request_due_on", "collection_due_on", "search_due_on", "lost_due_on",
)  # fmt: skip
STAGING: Final = f"SELECT id, {', '.join(CHANGED_COLUMNS)} FROM movement WITH NO DATA"  # noqa: S608 - fixed columns
HISTORY_COLUMNS: Final = (
    "movement_id", "kind", "occurred_at", "from_status", "to_status", "actor_subject",
    "actor_role", "note",
)  # fmt: skip


async def import_feed(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    feed_id: str,
    csv_text: str,
    targets: timers.Targets,
    today: date,
    idempotency_key: str | None = None,
) -> FeedResult:
    """Apply a day's feed, all or nothing; the same id and file again is a no-op."""
    policy.operator(principal)
    parsed = parse(csv_text, now=datetime.now(UTC))
    async with sessionmaker.begin() as session:
        if idempotency_key is not None:
            replay = await audit.claim(
                session,
                IdempotencyKey,
                actor=principal,
                key=idempotency_key,
                operation="importRecordsFeed",
                request={"feedId": feed_id, "digest": parsed.digest},
            )
            if replay is not None:
                return FeedResult(**{**replay, "replayed": True})
        await session.execute(
            select(func.pg_advisory_xact_lock(func.hashtext(literal(f"feed:{feed_id}"))))
        )
        existing = await session.get(Feed, feed_id)
        if existing is not None:
            if existing.digest != parsed.digest:
                raise Conflict("A different file was already applied under this feed id.",
                               field="feedId")  # fmt: skip
            result = FeedResult(
                feed_id=feed_id,
                lines=existing.lines,
                movements_opened=existing.movements_opened,
                movements_changed=existing.movements_changed,
                scans=existing.scans,
                incidents=existing.incidents,
                replayed=True,
            )
        else:
            result = await _apply(
                session, principal, feed_id=feed_id, parsed=parsed, targets=targets, today=today
            )
        if idempotency_key is not None:
            response = asdict(result)
            response.pop("replayed")
            await audit.remember(
                session,
                IdempotencyKey,
                actor=principal,
                key=idempotency_key,
                response=response,
            )
    return result


async def _apply(
    session: AsyncSession,
    principal: Principal,
    *,
    feed_id: str,
    parsed: ParsedFeed,
    targets: timers.Targets,
    today: date,
) -> FeedResult:
    numbers = sorted({line.movement_number for line in parsed.lines})
    # Locked in one order whatever the file's, so two feeds cannot wait on each other.
    found = await session.scalars(
        select(Movement)
        .where(Movement.movement_number.in_(numbers))
        .order_by(Movement.id)
        .with_for_update()
    )
    movements = {m.movement_number: m for m in found}
    # Played in memory and written in bulk: never flushed one by one.
    for movement in movements.values():
        session.expunge(movement)
    scan_ids = sorted({line.cells["scan_id"] for line in parsed.lines if "scan_id" in line.cells
                       and line.type in {"collection", "delivery"}})  # fmt: skip
    known_scans: dict[str, tuple[str, ScanKind, datetime]] = {}
    if scan_ids:
        rows = await session.execute(
            select(Scan.scan_id, Movement.movement_number, Scan.kind, Scan.scanned_at)
            .join(Movement, Movement.id == Scan.movement_id)
            .where(Scan.scan_id.in_(scan_ids))
        )
        known_scans = {scan: (number, kind, at) for scan, number, kind, at in rows}
    opened_count = sum(1 for line in parsed.lines if line.type == "opened")
    new_ids: list[int] = []
    if opened_count:
        sequence = await session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('movement', 'id')) "
                "FROM generate_series(1, :n)"
            ),
            {"n": opened_count},
        )
        new_ids = list(sequence.scalars())
    replay = _Replay(
        principal=principal,
        targets=targets,
        today=today,
        movements=movements,
        new_ids=new_ids,
        known_scans=known_scans,
    )
    for line in parsed.lines:
        replay.apply(line)
    if replay.problems:
        raise FeedRejected(replay.errors, total=replay.problems)
    touched = [replay.movements[number] for number in replay.before]
    for movement in touched:
        service.refresh_dues(movement, targets)
    driver = await _driver(session)
    opened = {m.movement_number for m in replay.opened}
    if replay.opened:
        await driver.copy_records_to_table(
            "movement",
            records=[tuple(getattr(m, c) for c in MOVEMENT_COLUMNS) for m in replay.opened],
            columns=list(MOVEMENT_COLUMNS),
        )
    changed = [m for m in touched if m.movement_number not in opened]
    if changed:
        await session.execute(text("DROP TABLE IF EXISTS feed_movement"))
        await session.execute(text(f"CREATE TEMP TABLE feed_movement ON COMMIT DROP AS {STAGING}"))
        await driver.copy_records_to_table(
            "feed_movement",
            records=[(m.id, *(getattr(m, c) for c in CHANGED_COLUMNS)) for m in changed],
            columns=["id", *CHANGED_COLUMNS],
        )
        assignments = ", ".join(f"{c} = f.{c}" for c in CHANGED_COLUMNS)
        await session.execute(
            text(f"UPDATE movement m SET {assignments} FROM feed_movement f WHERE m.id = f.id")  # noqa: S608 - fixed columns
        )
    if replay.history:
        await driver.copy_records_to_table(
            "movement_event", records=replay.history, columns=list(HISTORY_COLUMNS)
        )
    if replay.scans:
        await driver.copy_records_to_table(
            "scan",
            records=replay.scans,
            columns=["scan_id", "movement_id", "kind", "scanned_at"],
        )
    await driver.copy_records_to_table(
        "audit_event",
        records=[
            (principal.subject, str(principal.role), "feed", "movement", m.movement_number,
             json.dumps(replay.before[m.movement_number]),
             json.dumps(service.movement_values(m)))
            for m in touched
        ],
        columns=["actor_subject", "actor_role", "action", "entity", "entity_key", "before",
                 "after"],
    )  # fmt: skip
    incidents = await _empty_envelopes(session, principal, replay.empty_envelopes)
    await detection.detect(
        session, principal, today=today, patients=sorted({m.nhs_number for m in touched})
    )
    result = FeedResult(
        feed_id=feed_id,
        lines=len(parsed.lines),
        movements_opened=len(replay.opened),
        movements_changed=len(changed),
        scans=len(replay.scans),
        incidents=incidents,
    )
    session.add(
        Feed(
            feed_id=feed_id,
            digest=parsed.digest,
            lines=result.lines,
            movements_opened=result.movements_opened,
            movements_changed=result.movements_changed,
            scans=result.scans,
            incidents=result.incidents,
            loaded_by=principal.subject,
        )
    )
    await audit.record(
        session,
        AuditEvent,
        actor=principal,
        action="import_feed",
        entity="feed",
        key=feed_id,
        before=None,
        after={**asdict(result), "digest": parsed.digest},
    )
    return result


async def _empty_envelopes(
    session: AsyncSession, principal: Principal, found: list[tuple[Movement, datetime]]
) -> int:
    """The empty-envelope incidents the feed's collections raised, with their history, audit
    rows and events. At most one per movement, as by hand."""
    if not found:
        return 0
    result = await session.execute(
        text(f"""
        INSERT INTO incident (reference, kind, movement_id, ods_code, reported_at, reported_by,
                              detail, status)
        SELECT {detection.NEW_REFERENCE}, 'empty_envelope', f.movement_id, f.ods_code, f.at,
               :actor, :detail, 'open'
          FROM unnest(CAST(:ids AS bigint[]), CAST(:codes AS text[]),
                      CAST(:ats AS timestamptz[])) AS f(movement_id, ods_code, at)
        ON CONFLICT DO NOTHING
        RETURNING id
        """),  # noqa: S608 - our own SQL, values bound
        {
            "ids": [m.id for m, _ in found],
            "codes": [m.sender_ods_code for m, _ in found],
            "ats": [at for _, at in found],
            "actor": principal.subject,
            "detail": service.EMPTY_ENVELOPE_DETAIL,
        },
    )
    ids = list(result.scalars())
    if ids:
        await detection.announce(
            session,
            ids,
            {"actor": principal.subject, "role": str(principal.role)},
            action="feed_incident",
            event="opened",
        )
    return len(ids)


async def _driver(session: AsyncSession) -> Any:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if driver is None:  # pragma: no cover - a pooled connection always has its driver's
        raise RuntimeError("no asyncpg connection under the session")
    return driver
