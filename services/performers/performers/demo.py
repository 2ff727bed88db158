"""Loads the demo directory (demo/directory.json) into the performers database, once.

Every performer gets a status history along transitions the regulations allow, ending at the
status the directory gives. New entrants' applications and the open change requests are dated
back from the day the demo is loaded, so that a fresh `make up` always shows, in every LMC's
area, an application past 16 weeks (may be eligible for goodwill compensation), one past 12, a
request within its target, and a registrar applicant in the second month of the GP programme
(who may work without inclusion), whatever the date.
"""

from __future__ import annotations

import json
from collections import deque
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from pcse_kit import dates, events
from sqlalchemy import exists, insert, select

from performers import rules
from performers.models import (
    BranchSite,
    ChangeKind,
    ChangeOutcome,
    ChangeRequest,
    ListStatus,
    Lmc,
    LmcIcb,
    Membership,
    Outbox,
    Performer,
    Practice,
    Role,
    StatusChange,
)
from performers.settings import PerformersSettings
from performers.writes import STREAM, membership_values, practice_payload

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

DEMO_ACTOR = "demo-loader"
HISTORY_START = date(2008, 4, 1)
# Applications for inclusion, days before today: past 16 weeks, and past 12.
APPLICATION_AGES = (130, 95)
# A registrar applicant started the GP programme this many days ago: in the second month.
REGISTRAR_STARTED_DAYS_AGO = 45
# (days before today it was submitted, days before today it was decided, outcome)
REQUEST_PATTERN: list[tuple[int, int | None, ChangeOutcome | None]] = [
    (20, None, None),  # a status change within its target
    (200, 150, ChangeOutcome.APPROVED),  # a joining, decided
]


def read_directory(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def path_to(status: ListStatus) -> list[ListStatus]:
    """The shortest run of allowed transitions from a new application to ``status``."""
    queue: deque[list[ListStatus]] = deque([[ListStatus.PENDING]])
    while queue:
        path = queue.popleft()
        if path[-1] is status:
            return path
        queue.extend([*path, step] for step in sorted(rules.ALLOWED[path[-1]]) if step not in path)
    raise ValueError(f"{status} cannot be reached")


def history_rows(performer: dict[str, Any], started: date) -> list[dict[str, Any]]:
    history: list[dict[str, Any]] = []
    previous: ListStatus | None = None
    day = max(HISTORY_START, started - timedelta(days=120))
    for status in path_to(ListStatus(performer["status"])):
        history.append(
            {
                "gmc_number": performer["gmcNumber"],
                "from_status": previous,
                "to_status": status,
                "effective_date": day,
                "decision": "application received"
                if status is ListStatus.PENDING
                else "Performers List Decision Panel",
                "source": "NHS England",
                "recorded_by": DEMO_ACTOR,
            }
        )
        previous, day = status, day + timedelta(days=60)
    return history


def change_requests(directory: dict[str, Any], today: date) -> list[dict[str, Any]]:
    """A request of each timer state in every LMC's area, about performers working there."""
    working: dict[str, list[str]] = {}
    for membership in directory["memberships"]:
        if membership["endDate"] is None:
            working.setdefault(membership["odsCode"], []).append(membership["gmcNumber"])
    staffed: dict[str, list[dict[str, Any]]] = {}
    for practice in directory["practices"]:
        if practice["odsCode"] in working:
            staffed.setdefault(practice["lmcCode"], []).append(practice)
    requests = []
    for practices in staffed.values():
        for practice, pattern in zip(practices, REQUEST_PATTERN, strict=False):
            submitted, decided, outcome = pattern
            gmc = working[practice["odsCode"]][0]
            starts = [
                date.fromisoformat(m["startDate"])
                for m in directory["memberships"]
                if m["gmcNumber"] == gmc and m["odsCode"] == practice["odsCode"]
            ]
            requests.append(
                {
                    "reference": f"CR-DEMO-{practice['odsCode']}",
                    "kind": ChangeKind.JOINING if decided else ChangeKind.STATUS_CHANGE,
                    "gmc_number": gmc,
                    "ods_code": practice["odsCode"],
                    "requested_status": None if decided else ListStatus.INCLUDED_WITH_CONDITIONS,
                    "role": Role.PARTNER if decided else None,
                    "effective_on": min(starts) if decided else None,
                    "submitted_on": today - timedelta(days=submitted),
                    "complete_on": today - timedelta(days=submitted),
                    "decided_on": None if decided is None else today - timedelta(days=decided),
                    "outcome": outcome,
                }
            )
    by_lmc: dict[str, list[dict[str, Any]]] = {}
    lmc_of = {p["odsCode"]: p["lmcCode"] for p in directory["practices"]}
    for applicant in directory["applicants"]:
        by_lmc.setdefault(lmc_of[applicant["odsCode"]], []).append(applicant)
    for applicants in by_lmc.values():
        for applicant, days in zip(applicants, APPLICATION_AGES, strict=True):
            requests.append(
                {
                    "reference": f"CR-DEMO-N{applicant['gmcNumber']}",
                    "kind": ChangeKind.INCLUSION,
                    "gmc_number": applicant["gmcNumber"],
                    "ods_code": applicant["odsCode"],
                    "requested_status": None,
                    "role": None,
                    "effective_on": None,
                    "submitted_on": today - timedelta(days=days),
                    "complete_on": today - timedelta(days=days),
                    "decided_on": None,
                    "outcome": None,
                }
            )
    return requests


def applicant_rows(directory: dict[str, Any], today: date) -> list[dict[str, Any]]:
    """New entrants, pending: not working anywhere yet."""
    return [
        {
            "gmc_number": a["gmcNumber"],
            "given_name": a["givenName"],
            "family_name": a["familyName"],
            "status": ListStatus.PENDING,
            "date_of_birth": _day(a["dateOfBirth"]),
            "gmc_registered_on": _day(a["gmcRegisteredOn"]),
            "gp_register_on": _day(a["gpRegisterOn"]),
            "under_training_supervision": a["registrar"],
            "training_programme_start": today - timedelta(days=REGISTRAR_STARTED_DAYS_AGO)
            if a["registrar"]
            else None,
        }
        for a in directory["applicants"]
    ]


async def seed_demo(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    directory = read_directory(PerformersSettings().demo_directory)
    today = dates.today()
    starts: dict[str, date] = {}
    for membership in directory["memberships"]:
        start = date.fromisoformat(membership["startDate"])
        starts[membership["gmcNumber"]] = min(start, starts.get(membership["gmcNumber"], start))
    async with sessionmaker.begin() as session:
        if await session.scalar(select(exists().select_from(Lmc))):
            return False
        await session.execute(
            insert(Lmc), [{"code": lmc["code"], "name": lmc["name"]} for lmc in directory["lmcs"]]
        )
        await session.execute(
            insert(LmcIcb),
            [
                {"lmc_code": lmc["code"], "icb_code": icb}
                for lmc in directory["lmcs"]
                for icb in lmc["icbs"]
            ],
        )
        await session.execute(
            insert(Practice),
            [
                {
                    "ods_code": p["odsCode"],
                    "name": p["name"],
                    "address": p["address"],
                    "postcode": p["postcode"],
                    "icb_code": p["icbCode"],
                    "sub_icb_code": p["subIcbCode"],
                    "lmc_code": p["lmcCode"],
                    "contract_type": p["contractType"],
                    "list_size": p["listSize"],
                    "status": p["status"],
                    "opened_on": _day(p["openedOn"]),
                    "closed_on": _day(p["closedOn"]),
                    "dispensing": p["dispensing"],
                    "training_practice": p["trainingPractice"],
                    "out_of_hours_opt_out": p["outOfHoursOptOut"],
                }
                for p in directory["practices"]
            ],
        )
        sites = [
            {
                "ods_code": p["odsCode"],
                "site_code": s["siteCode"],
                "name": s["name"],
                "postcode": s["postcode"],
            }
            for p in directory["practices"]
            for s in p["branchSites"]
        ]
        if sites:
            await session.execute(insert(BranchSite), sites)
        await session.execute(
            insert(Performer),
            [
                {
                    "gmc_number": p["gmcNumber"],
                    "given_name": p["givenName"],
                    "family_name": p["familyName"],
                    "status": p["status"],
                    "date_of_birth": _day(p["dateOfBirth"]),
                    "cct_date": _day(p["cctDate"]),
                    "under_training_supervision": p["underTrainingSupervision"],
                    "gmc_registered_on": _day(p["gmcRegisteredOn"]),
                    "gp_register_on": _day(p["gpRegisterOn"]),
                    "training_programme_start": _day(p["trainingProgrammeStart"]),
                    "designated_body": p["designatedBody"],
                    "public_list_entries": p["publicListEntries"],
                    "public_list_visible": None
                    if p["publicListEntries"] is None
                    else p["publicListEntries"] > 0,
                    "public_list_checked_on": None
                    if p["publicListEntries"] is None
                    else today - timedelta(days=7),
                }
                for p in directory["performers"]
            ],
        )
        await session.execute(insert(Performer), applicant_rows(directory, today))
        await session.execute(
            insert(Membership),
            [
                {
                    "gmc_number": m["gmcNumber"],
                    "ods_code": m["odsCode"],
                    "role": m["role"],
                    "start_date": date.fromisoformat(m["startDate"]),
                    "end_date": _day(m["endDate"]),
                }
                for m in directory["memberships"]
            ],
        )
        await session.execute(
            insert(StatusChange),
            [
                row
                for p in directory["performers"]
                for row in history_rows(p, starts.get(p["gmcNumber"], HISTORY_START))
            ]
            + [
                {
                    "gmc_number": a["gmcNumber"],
                    "from_status": None,
                    "to_status": ListStatus.PENDING,
                    "effective_date": today - timedelta(days=max(APPLICATION_AGES)),
                    "decision": "application for inclusion (NPL1) received",
                    "source": "PCSE",
                    "recorded_by": DEMO_ACTOR,
                }
                for a in directory["applicants"]
            ],
        )
        await session.execute(insert(ChangeRequest), change_requests(directory, today))
        # The other services learn the directory as they would in production: from events.
        for practice in await session.scalars(select(Practice).order_by(Practice.ods_code)):
            await events.publish(
                session,
                Outbox,
                stream=STREAM,
                type="practice.upserted",
                key=practice.ods_code,
                payload=practice_payload(practice),
            )
        memberships = (await session.scalars(select(Membership).order_by(Membership.id))).all()
        for membership in memberships:
            values = membership_values(membership)
            for kind in ("started", *(["ended"] if membership.end_date else [])):
                await events.publish(
                    session,
                    Outbox,
                    stream=STREAM,
                    type=f"membership.{kind}",
                    key=membership.gmc_number,
                    payload=values,
                )
    return True
