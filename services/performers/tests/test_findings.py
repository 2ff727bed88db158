"""Each kind of problem on the list: a case that raises it and one that must not."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from pcse_kit.dates import today
from pcse_kit.testing import graphql
from performers.models import ChangeKind, ListStatus, Performer, Role
from sqlalchemy import delete, insert, update

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

TODAY = today()
FINDINGS = """
query { practice(odsCode: "A81001") {
  findings { kind severity gmcNumber odsCode since evidence { label value } }
} }
"""


@pytest.fixture
async def practice(make_lmc: Any, make_practice: Any) -> str:
    await make_lmc()
    return str(await make_practice())


async def kinds(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    body = await graphql(client, FINDINGS)
    assert "errors" not in body, body
    return [(f["kind"], f["gmcNumber"]) for f in body["data"]["practice"]["findings"]]


async def test_a_clean_practice_has_no_findings(
    practice: str, make_performer: Any, client: httpx.AsyncClient
) -> None:
    await make_performer()
    await make_performer(family_name="Jones", under_training_supervision=True, cct_date=None)
    assert await kinds(client) == []


async def test_the_same_person_under_two_gmc_numbers(
    practice: str, make_performer: Any, client: httpx.AsyncClient
) -> None:
    first = await make_performer(family_name="Okafor", date_of_birth=date(1979, 2, 3))
    second = await make_performer(family_name="OKAFOR", date_of_birth=date(1979, 2, 3), at=None)
    await make_performer(family_name="Okafor", given_name="Priya", date_of_birth=date(1990, 1, 1))

    body = await graphql(client, FINDINGS)

    [finding] = body["data"]["practice"]["findings"]
    assert (finding["kind"], finding["gmcNumber"]) == ("DUPLICATE_PERFORMER", first)
    assert finding["evidence"] == [{"label": "same name and date of birth as", "value": second}]


DUPLICATES = """
query { lmc(code: "kernow") {
  findings(kind: DUPLICATE_PERFORMER) { gmcNumber evidence { label value } }
} }
"""


async def duplicates(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    body = await graphql(client, DUPLICATES)
    assert "errors" not in body, body
    pairs = []
    for finding in body["data"]["lmc"]["findings"]:
        [evidence] = finding["evidence"]
        assert evidence["label"] == "same name and date of birth as"
        pairs.append((finding["gmcNumber"], evidence["value"]))
    return pairs


async def test_duplicates_in_an_area_follow_every_change_of_name_and_date_of_birth(
    app: FastAPI,
    practice: str,
    make_lmc: Any,
    make_practice: Any,
    make_performer: Any,
    make_membership: Any,
    client: httpx.AsyncClient,
) -> None:
    """A performer working in the LMC's area is a duplicate of every other performer on the
    list (working anywhere or nowhere) with the same name, in any case, and the same date of
    birth; the finding follows inserts, renames, corrections of a date of birth and removals."""
    await make_lmc(code="essex", name="Essex LMCs")
    await make_practice(ods_code="C83003", lmc_code="essex")
    born = date(1979, 2, 3)
    # Three under one identity: one in the area, one working nowhere, one in Essex.
    a = await make_performer(family_name="Okafor", given_name="Ada", date_of_birth=born)
    b = await make_performer(family_name="OKAFOR", given_name="ada", date_of_birth=born, at=None)
    c = await make_performer(
        family_name="okafor", given_name="ADA", date_of_birth=born, at="C83003"
    )
    # No date of birth: nobody to match.
    await make_performer(family_name="Mensah", given_name="Kofi", date_of_birth=None)
    await make_performer(family_name="Mensah", given_name="Kofi", date_of_birth=None)
    # One day apart, until the second's date of birth is corrected.
    f = await make_performer(family_name="Shah", given_name="Ravi", date_of_birth=date(1985, 6, 1))
    g = await make_performer(family_name="Shah", given_name="Ravi", date_of_birth=date(1985, 6, 2))
    # Twins until one is renamed; twins until one is removed.
    h = await make_performer(family_name="Brown", given_name="Tom", date_of_birth=date(1970, 1, 1))
    i = await make_performer(
        family_name="Brown", given_name="Tom", date_of_birth=date(1970, 1, 1), at=None
    )
    j = await make_performer(
        family_name="Green", given_name="Ann", date_of_birth=date(1990, 1, 1), at=None
    )
    k = await make_performer(family_name="Green", given_name="Ann", date_of_birth=date(1990, 1, 1))
    # Two entered in one statement.
    m, n = "2000001", "2000002"
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            insert(Performer).values(
                [
                    {
                        "gmc_number": number,
                        "given_name": "Sam",
                        "family_name": "Lee",
                        "status": ListStatus.INCLUDED,
                        "date_of_birth": date(1988, 8, 8),
                        "cct_date": date(2015, 8, 1),
                        "gp_register_on": date(2015, 8, 1),
                    }
                    for number in (m, n)
                ]
            )
        )
    await make_membership(gmc_number=m, ods_code=practice, role=Role.PARTNER)

    assert await duplicates(client) == [(a, b), (a, c), (h, i), (k, j), (m, n)]

    async with app.state.sessionmaker.begin() as session:
        # A new spelling of the same name in lower case: the same identity.
        await session.execute(
            update(Performer).where(Performer.gmc_number == a).values(given_name="ADA")
        )
        await session.execute(
            update(Performer)
            .where(Performer.gmc_number == g)
            .values(date_of_birth=date(1985, 6, 1))
        )
        await session.execute(
            update(Performer).where(Performer.gmc_number == i).values(family_name="Browne")
        )
        await session.execute(delete(Performer).where(Performer.gmc_number == j))

    assert await duplicates(client) == [(a, b), (a, c), (f, g), (g, f), (m, n)]


async def test_a_gp_not_on_the_gp_register_and_not_a_registrar(
    practice: str, make_performer: Any, client: httpx.AsyncClient
) -> None:
    """Reg 26(2)(b): the GMC GP Register, not a CCT, is the test."""
    wrong = await make_performer(cct_date=None, gp_register_on=None)
    # A registrar: no GP Register entry needed.
    await make_performer(family_name="B", cct_date=None, under_training_supervision=True)
    # A CCT holder on the register.
    await make_performer(family_name="C", cct_date=date(2019, 8, 1))
    # Qualified before 2005: on the GP Register since it opened (31 March 2006), no CCT.
    await make_performer(family_name="E", cct_date=None, gp_register_on=date(2006, 3, 31))
    # Not on the list at all: another finding's business, not this one's.
    await make_performer(family_name="D", cct_date=None, status=ListStatus.PENDING, at=None)

    body = await graphql(client, FINDINGS)

    [finding] = body["data"]["practice"]["findings"]
    assert (finding["kind"], finding["gmcNumber"]) == ("NOT_ON_GP_REGISTER", wrong)
    assert {"label": "GP Register", "value": "no entry recorded"} in finding["evidence"]


@pytest.mark.parametrize(
    ("started_days_ago", "expected"),
    [
        # 45 days into the GP programme: month 2, inside the three months.
        (45, []),
        # 120 days: month 4 (three months are at most 92 days), past the window.
        (120, ["WORKING_NOT_INCLUDED"]),
    ],
)
async def test_a_registrar_may_work_for_three_months_before_inclusion(
    practice: str,
    make_performer: Any,
    client: httpx.AsyncClient,
    started_days_ago: int,
    expected: list[str],
) -> None:
    started = TODAY - timedelta(days=started_days_ago)
    await make_performer(
        status=ListStatus.PENDING,
        role=Role.REGISTRAR,
        cct_date=None,
        under_training_supervision=True,
        training_programme_start=started,
        start=started,
    )
    assert [kind for kind, _ in await kinds(client)] == expected


async def test_a_doctor_of_a_designated_body_is_exempt_since_27_may_2024(
    practice: str, make_performer: Any, client: httpx.AsyncClient
) -> None:
    await make_performer(
        status=ListStatus.PENDING, designated_body="Royal Cornwall Hospitals NHS Trust"
    )
    not_exempt = await make_performer(family_name="N", status=ListStatus.PENDING)
    assert await kinds(client) == [("WORKING_NOT_INCLUDED", not_exempt)]


async def test_entitled_but_not_visible_and_a_number_listed_twice(
    practice: str, make_performer: Any, client: httpx.AsyncClient
) -> None:
    hidden = await make_performer(public_list_entries=0)
    twice = await make_performer(family_name="T", public_list_entries=2)
    await make_performer(family_name="S", public_list_entries=1)
    # Not included: the published list rightly does not show a refused applicant.
    await make_performer(family_name="R", status=ListStatus.REFUSED, public_list_entries=0, at=None)

    assert await kinds(client) == [
        ("ENTITLED_NOT_VISIBLE", hidden),
        ("GMC_NUMBER_LISTED_TWICE", twice),
    ]


async def test_working_at_a_practice_without_being_on_the_list(
    practice: str, make_performer: Any, client: httpx.AsyncClient
) -> None:
    pending = await make_performer(status=ListStatus.PENDING)
    await make_performer(family_name="Left", status=ListStatus.REMOVED, end=date(2022, 1, 1))
    await make_performer(
        family_name="Future", status=ListStatus.PENDING, start=TODAY + timedelta(days=30)
    )

    body = await graphql(client, FINDINGS)

    [finding] = body["data"]["practice"]["findings"]
    assert (finding["kind"], finding["gmcNumber"], finding["odsCode"]) == (
        "WORKING_NOT_INCLUDED",
        pending,
        "A81001",
    )
    assert finding["severity"] == "HIGH"
    assert {"label": "status", "value": "pending"} in finding["evidence"]


async def test_a_suspended_performer_still_working(
    practice: str, make_performer: Any, client: httpx.AsyncClient
) -> None:
    suspended = await make_performer(status=ListStatus.SUSPENDED)
    await make_performer(family_name="Gone", status=ListStatus.SUSPENDED, end=date(2023, 6, 30))

    assert await kinds(client) == [("SUSPENDED_WORKING", suspended)]


@pytest.mark.parametrize(
    ("kind", "weeks", "decided", "expected"),
    [
        # An application for inclusion: 12 weeks to decide, goodwill beyond 16.
        (ChangeKind.INCLUSION, 11, False, []),
        (ChangeKind.INCLUSION, 13, False, ["CHANGE_REQUEST_OVERDUE"]),
        (ChangeKind.INCLUSION, 17, False, ["GOODWILL_COMPENSATION_MAY_APPLY"]),
        (ChangeKind.INCLUSION, 17, True, []),
        # A CCT update: the service's two weeks; never goodwill compensation.
        (ChangeKind.CCT, 1, False, []),
        (ChangeKind.CCT, 3, False, ["CHANGE_REQUEST_OVERDUE"]),
        (ChangeKind.CCT, 17, False, ["CHANGE_REQUEST_OVERDUE"]),
        # A status change: four weeks.
        (ChangeKind.STATUS_CHANGE, 3, False, []),
        (ChangeKind.STATUS_CHANGE, 5, False, ["CHANGE_REQUEST_OVERDUE"]),
    ],
)
async def test_each_kind_of_request_is_judged_by_its_own_target(
    practice: str,
    make_performer: Any,
    make_change_request: Any,
    client: httpx.AsyncClient,
    kind: ChangeKind,
    weeks: int,
    decided: bool,
    expected: list[str],
) -> None:
    gmc = await make_performer()
    submitted = TODAY - timedelta(weeks=weeks)
    await make_change_request(
        gmc_number=gmc, kind=kind, submitted_on=submitted, decided_on=TODAY if decided else None
    )

    assert [kind for kind, _ in await kinds(client)] == expected


async def test_goodwill_evidence_counts_whole_weeks_beyond_sixteen(
    practice: str, make_performer: Any, make_change_request: Any, client: httpx.AsyncClient
) -> None:
    gmc = await make_performer()
    # Complete 130 days ago: 16 weeks is 112 days, so 18 days beyond, 2 whole weeks.
    await make_change_request(
        gmc_number=gmc, kind=ChangeKind.INCLUSION, submitted_on=TODAY - timedelta(days=130)
    )
    body = await graphql(client, FINDINGS)
    [finding] = body["data"]["practice"]["findings"]
    evidence = {e["label"]: e["value"] for e in finding["evidence"]}
    assert finding["kind"] == "GOODWILL_COMPENSATION_MAY_APPLY"
    assert finding["since"] == str(TODAY - timedelta(days=130 - 112))
    assert evidence["whole weeks beyond 16"] == "2"
    assert evidence["age in days"] == "130"
