"""SQL statements of the performers service. Nothing here commits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    String,
    and_,
    any_,
    bindparam,
    cast,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY

from performers.models import (
    BranchSite,
    ChangeRequest,
    ListStatus,
    Lmc,
    LmcIcb,
    Membership,
    Performer,
    Practice,
    PracticeListSize,
    StatusChange,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date
    from typing import TypeAlias

    from sqlalchemy import ColumnElement, Select
    from sqlalchemy.ext.asyncio import AsyncSession

    Practices: TypeAlias = Sequence[str] | Select[str]
    """Practices by ODS code, or a subquery of their codes (``practices_of_area``)."""


def practices_of_area(lmc: str) -> Select[str]:
    """The practices of the LMC ``lmc``, as a subquery: an area's statements name the LMC,
    not its practices. A list of the largest LMC's 1,100 codes, written out in each of a
    summary's statements, cost more to render and plan than the statements took to run."""
    return select(Practice.ods_code).where(Practice.lmc_code == lmc)


async def practices_by_code(session: AsyncSession, codes: Sequence[str]) -> list[Practice]:
    result = await session.scalars(select(Practice).where(Practice.ods_code.in_(codes)))
    return list(result)


async def performers_by_gmc(session: AsyncSession, numbers: Sequence[str]) -> list[Performer]:
    result = await session.scalars(select(Performer).where(Performer.gmc_number.in_(numbers)))
    return list(result)


async def lmcs_by_code(session: AsyncSession, codes: Sequence[str]) -> list[Lmc]:
    result = await session.scalars(select(Lmc).where(Lmc.code.in_(codes)))
    return list(result)


def _current(on: date) -> ColumnElement[bool]:
    return and_(
        Membership.start_date <= on,
        or_(Membership.end_date.is_(None), Membership.end_date >= on),
    )


async def current_performers_of_practices(
    session: AsyncSession, codes: Sequence[str], *, on: date
) -> list[tuple[str, Performer]]:
    """(practice code, performer) for every membership current on ``on``."""
    result = await session.execute(
        select(Membership.ods_code, Performer)
        .join(Performer, Performer.gmc_number == Membership.gmc_number)
        .where(Membership.ods_code.in_(codes), _current(on))
        .order_by(Membership.ods_code, Performer.family_name, Performer.gmc_number)
    )
    return [(code, performer) for code, performer in result]


_PRACTICES_WITH_PERFORMERS = (
    select(Practice, Performer)
    .outerjoin(
        Membership,
        and_(
            Membership.ods_code == Practice.ods_code,
            Membership.start_date <= bindparam("on"),
            or_(Membership.end_date.is_(None), Membership.end_date >= bindparam("on")),
        ),
    )
    .outerjoin(Performer, Performer.gmc_number == Membership.gmc_number)
    .where(Practice.ods_code == any_(bindparam("codes", type_=ARRAY(String))))
    .order_by(Practice.ods_code, Performer.family_name, Performer.gmc_number)
)
"""Built once: every value is a parameter, so its cache key and SQL are worked out once."""


async def practices_with_current_performers(
    session: AsyncSession, codes: Sequence[str], *, on: date
) -> list[tuple[Practice, Performer | None]]:
    """Each practice with each performer whose membership is current on ``on``, in the order
    of :func:`current_performers_of_practices`; (practice, None) for a practice with none.
    One round trip for what would otherwise be two, the practice and then its performers."""
    result = await session.execute(_PRACTICES_WITH_PERFORMERS, {"codes": list(codes), "on": on})
    return [(practice, performer) for practice, performer in result]


async def memberships_of_performers(
    session: AsyncSession, numbers: Sequence[str]
) -> list[Membership]:
    result = await session.scalars(
        select(Membership)
        .where(Membership.gmc_number.in_(numbers))
        .order_by(Membership.gmc_number, Membership.start_date, Membership.id)
    )
    return list(result)


async def practices_page(
    session: AsyncSession,
    *,
    lmc_codes: Sequence[str] | None,
    codes: Sequence[str] | None,
    after: str | None,
    limit: int,
) -> list[Practice]:
    """Practices in code order, after a code, optionally limited to LMCs or codes: a page."""
    statement = select(Practice).order_by(Practice.ods_code).limit(limit)
    if lmc_codes is not None:
        statement = statement.where(Practice.lmc_code.in_(lmc_codes))
    if codes is not None:
        statement = statement.where(Practice.ods_code.in_(codes))
    if after is not None:
        statement = statement.where(Practice.ods_code > after)
    return list(await session.scalars(statement))


async def practice_codes_of_lmcs(
    session: AsyncSession, lmc_codes: Sequence[str]
) -> list[tuple[str, str]]:
    result = await session.execute(
        select(Practice.lmc_code, Practice.ods_code)
        .where(Practice.lmc_code.in_(lmc_codes))
        .order_by(Practice.lmc_code, Practice.ods_code)
    )
    return [(lmc, ods) for lmc, ods in result]


async def icbs_of_lmcs(session: AsyncSession, codes: Sequence[str]) -> list[tuple[str, str]]:
    result = await session.execute(
        select(LmcIcb.lmc_code, LmcIcb.icb_code)
        .where(LmcIcb.lmc_code.in_(codes))
        .order_by(LmcIcb.lmc_code, LmcIcb.icb_code)
    )
    return [(lmc, icb) for lmc, icb in result]


async def branch_sites_of_practices(
    session: AsyncSession, codes: Sequence[str]
) -> list[tuple[str, BranchSite]]:
    result = await session.scalars(
        select(BranchSite).where(BranchSite.ods_code.in_(codes)).order_by(BranchSite.site_code)
    )
    return [(site.ods_code, site) for site in result]


async def history_of_performers(
    session: AsyncSession, numbers: Sequence[str]
) -> list[tuple[str, StatusChange]]:
    result = await session.scalars(
        select(StatusChange)
        .where(StatusChange.gmc_number.in_(numbers))
        .order_by(StatusChange.gmc_number, StatusChange.id)
    )
    return [(change.gmc_number, change) for change in result]


async def change_requests_of_performers(
    session: AsyncSession, numbers: Sequence[str]
) -> list[tuple[str, ChangeRequest]]:
    result = await session.scalars(
        select(ChangeRequest)
        .where(ChangeRequest.gmc_number.in_(numbers))
        .order_by(ChangeRequest.gmc_number, ChangeRequest.submitted_on.desc(), ChangeRequest.id)
    )
    return [(request.gmc_number, request) for request in result]


async def change_request_by_reference(
    session: AsyncSession, references: Sequence[str]
) -> list[ChangeRequest]:
    return list(
        await session.scalars(select(ChangeRequest).where(ChangeRequest.reference.in_(references)))
    )


def _open_requests_at(codes: Practices, on: date) -> ColumnElement[bool]:
    """Open requests about the practices ``codes`` or a performer working there now."""
    working = select(Membership.gmc_number).where(Membership.ods_code.in_(codes), _current(on))
    return and_(
        ChangeRequest.outcome.is_(None),
        or_(ChangeRequest.ods_code.in_(codes), ChangeRequest.gmc_number.in_(working)),
    )


async def open_change_requests(
    session: AsyncSession,
    codes: Sequence[str],
    *,
    on: date,
    after: tuple[date, int] | None,
    limit: int,
) -> list[ChangeRequest]:
    """Open requests, oldest first (the longest wait leads), as a keyset page."""
    statement = (
        select(ChangeRequest)
        .where(_open_requests_at(codes, on))
        .order_by(ChangeRequest.submitted_on, ChangeRequest.id)
        .limit(limit)
    )
    if after is not None:
        statement = statement.where(
            tuple_(ChangeRequest.submitted_on, ChangeRequest.id) > tuple_(*after)
        )
    return list(await session.scalars(statement))


async def list_sizes_of_practices(
    session: AsyncSession, codes: Sequence[str]
) -> list[tuple[str, PracticeListSize]]:
    result = await session.scalars(
        select(PracticeListSize)
        .where(PracticeListSize.ods_code.in_(codes))
        .order_by(PracticeListSize.ods_code, PracticeListSize.quarter_start.desc())
    )
    return [(row.ods_code, row) for row in result]


async def requests_about(
    session: AsyncSession, gmc_number: str, *, ods_code: str, unattached: bool
) -> list[ChangeRequest]:
    """Open requests about a performer at ``ods_code``, and with ``unattached`` those naming no
    practice (an application made before the GP chose one)."""
    at = ChangeRequest.ods_code == ods_code
    statement = (
        select(ChangeRequest)
        .where(
            ChangeRequest.gmc_number == gmc_number,
            ChangeRequest.outcome.is_(None),
            or_(at, ChangeRequest.ods_code.is_(None)) if unattached else at,
        )
        .order_by(ChangeRequest.complete_on, ChangeRequest.id)
    )
    return list(await session.scalars(statement))


async def performer_counts(
    session: AsyncSession, codes: Practices, *, on: date
) -> list[tuple[ListStatus, int]]:
    """Performers working at ``codes`` on ``on``, counted once each, by list status."""
    working = (
        select(Membership.gmc_number)
        .where(Membership.ods_code.in_(codes), _current(on))
        .distinct()
        .subquery()
    )
    result = await session.execute(
        select(Performer.status, func.count())
        .join(working, working.c.gmc_number == Performer.gmc_number)
        .group_by(Performer.status)
        .order_by(Performer.status)
    )
    return [(status, count) for status, count in result]


@dataclass(frozen=True)
class ListMovement:
    """One entry of the entrants-and-leavers feed."""

    on: date
    kind: str
    gmc_number: str
    ods_code: str | None
    detail: str
    sequence: int


async def entrants_and_leavers(
    session: AsyncSession,
    codes: Sequence[str],
    *,
    since: date,
    until: date,
    after: tuple[date, int] | None,
    limit: int,
) -> list[ListMovement]:
    """Joiners, leavers and list decisions at ``codes`` from ``since``, oldest first.

    Memberships give joining and leaving; the status history gives inclusions, suspensions
    and removals of performers who work or worked there. Each row has a stable sequence (the
    membership or history id, offset so the two never collide) for the cursor.
    """
    offset = literal(1 << 40, BigInteger)
    joined = select(
        Membership.start_date.label("on"),
        literal("joined").label("kind"),
        Membership.gmc_number,
        Membership.ods_code,
        cast(Membership.role, String).label("detail"),
        Membership.id.label("sequence"),
    ).where(Membership.ods_code.in_(codes), Membership.start_date.between(since, until))
    left = select(
        Membership.end_date.label("on"),
        literal("left").label("kind"),
        Membership.gmc_number,
        Membership.ods_code,
        cast(Membership.role, String).label("detail"),
        (Membership.id + offset).label("sequence"),
    ).where(Membership.ods_code.in_(codes), Membership.end_date.between(since, until))
    people = select(Membership.gmc_number).where(Membership.ods_code.in_(codes))
    decided = select(
        StatusChange.effective_date.label("on"),
        literal("status_changed").label("kind"),
        StatusChange.gmc_number,
        literal(None, String).label("ods_code"),
        cast(StatusChange.to_status, String).label("detail"),
        (StatusChange.id + 2 * offset).label("sequence"),
    ).where(StatusChange.gmc_number.in_(people), StatusChange.effective_date.between(since, until))
    feed = union_all(joined, left, decided).subquery()
    statement = select(feed).order_by(feed.c.on, feed.c.sequence).limit(limit)
    if after is not None:
        statement = statement.where(tuple_(feed.c.on, feed.c.sequence) > tuple_(*after))
    rows = await session.execute(statement)
    return [
        ListMovement(row.on, row.kind, row.gmc_number, row.ods_code, row.detail, row.sequence)
        for row in rows
    ]


async def search_performers(
    session: AsyncSession,
    text_: str,
    *,
    codes: Sequence[str] | None,
    after: str | None,
    limit: int,
) -> list[Performer]:
    """By GMC number prefix or any part of the name; limited to those working at ``codes``."""
    pattern = f"%{_escape_like(text_)}%"
    statement = (
        select(Performer)
        .where(
            or_(
                Performer.gmc_number.startswith(text_, autoescape=True),
                (Performer.given_name + " " + Performer.family_name).ilike(pattern, escape="\\"),
            )
        )
        .order_by(Performer.gmc_number)
        .limit(limit)
    )
    if codes is not None:
        statement = statement.where(
            Performer.gmc_number.in_(
                select(Membership.gmc_number).where(Membership.ods_code.in_(codes))
            )
        )
    if after is not None:
        statement = statement.where(Performer.gmc_number > after)
    return list(await session.scalars(statement))


async def search_practices(
    session: AsyncSession,
    text_: str,
    *,
    lmc_codes: Sequence[str] | None,
    codes: Sequence[str] | None,
    after: str | None,
    limit: int,
) -> list[Practice]:
    """By ODS code prefix, any part of the name, or postcode (spaces ignored)."""
    pattern = f"%{_escape_like(text_)}%"
    compact = _escape_like(text_.replace(" ", "").upper())
    statement = (
        select(Practice)
        .where(
            or_(
                Practice.ods_code.startswith(text_.upper(), autoescape=True),
                Practice.name.ilike(pattern, escape="\\"),
                func.replace(Practice.postcode, " ", "").like(f"{compact}%", escape="\\"),
            )
        )
        .order_by(Practice.ods_code)
        .limit(limit)
    )
    if lmc_codes is not None:
        statement = statement.where(Practice.lmc_code.in_(lmc_codes))
    if codes is not None:
        statement = statement.where(Practice.ods_code.in_(codes))
    if after is not None:
        statement = statement.where(Practice.ods_code > after)
    return list(await session.scalars(statement))


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
