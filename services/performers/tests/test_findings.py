"""Each kind of problem on the list: a case that raises it and one that must not."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from pcse_kit.dates import today
from pcse_kit.testing import graphql
from performers.models import ListStatus

if TYPE_CHECKING:
    import httpx

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


async def test_a_registrar_shown_as_fully_included_without_a_cct(
    practice: str, make_performer: Any, client: httpx.AsyncClient
) -> None:
    wrong = await make_performer(cct_date=None, under_training_supervision=False)
    await make_performer(family_name="B", cct_date=None, under_training_supervision=True)
    await make_performer(family_name="C", cct_date=date(2019, 8, 1))
    await make_performer(family_name="D", cct_date=None, status=ListStatus.PENDING, at=None)

    assert await kinds(client) == [("REGISTRAR_WITHOUT_CCT", wrong)]


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
    ("weeks", "decided", "expected"),
    [
        (11, False, []),
        (13, False, ["CHANGE_REQUEST_OVERDUE"]),
        (17, False, ["CHANGE_REQUEST_COMPENSABLE"]),
        (17, True, []),
    ],
)
async def test_a_change_request_left_open_past_12_and_16_weeks(
    practice: str,
    make_performer: Any,
    make_change_request: Any,
    client: httpx.AsyncClient,
    weeks: int,
    decided: bool,
    expected: list[str],
) -> None:
    gmc = await make_performer()
    submitted = TODAY - timedelta(weeks=weeks)
    await make_change_request(
        gmc_number=gmc, submitted_on=submitted, decided_on=TODAY if decided else None
    )

    assert [kind for kind, _ in await kinds(client)] == expected
