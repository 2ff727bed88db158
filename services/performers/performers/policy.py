"""Who may see what in the performers service.

A practice sees its own practices, the performers who work or worked there and its LMC; an
LMC sees its area; operators of this domain and admins see everything; accountants see
nothing here (their access is to payments only). A refusal never says whether the thing
exists: for a practice the check is on the code it asked for, before any lookup, and for an
LMC an unknown code is refused exactly like a practice outside its area.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pcse_kit.auth import Forbidden, Principal, Role

if TYPE_CHECKING:
    from performers import models
    from performers.context import PerformersContext

DOMAIN = "performers"


def sees_practice(principal: Principal, practice: models.Practice) -> bool:
    return (
        principal.operates(DOMAIN)
        or principal.is_practice_of(practice.ods_code)
        or principal.is_lmc_of(practice.lmc_code)
    )


def _directory_reader(principal: Principal) -> None:
    if not (principal.operates(DOMAIN) or principal.role in {Role.PRACTICE, Role.LMC}):
        raise Forbidden


async def practice(
    context: PerformersContext, ods_code: str, *, with_performers: bool = False
) -> models.Practice | None:
    """The practice if the caller may see it, None if it does not exist and they may know.

    ``with_performers`` reads its current performers in the same statement, for a query
    that asks for them next (they are shown only once the practice passes the checks here).
    """
    principal = context.principal
    _directory_reader(principal)
    if principal.role is Role.PRACTICE and ods_code not in principal.scope:
        raise Forbidden
    loader = context.practices_with_performers if with_performers else context.practices
    row = await loader.load(ods_code)
    if principal.role is Role.LMC and (row is None or not sees_practice(principal, row)):
        raise Forbidden
    return row


async def visible_practices(context: PerformersContext, codes: list[str]) -> list[models.Practice]:
    rows = await context.practices.load_many(codes)
    return [row for row in rows if row is not None and sees_practice(context.principal, row)]


async def performer(context: PerformersContext, gmc_number: str) -> models.Performer | None:
    """A performer the caller may see: one who works or worked at a practice they see."""
    principal = context.principal
    _directory_reader(principal)
    if not principal.operates(DOMAIN):
        memberships = await context.memberships_of_performer.load(gmc_number)
        if not await visible_practices(context, [m.ods_code for m in memberships]):
            raise Forbidden
    return await context.performers.load(gmc_number)


async def lmc(context: PerformersContext, code: str) -> models.Lmc | None:
    """An LMC the caller may see: its own, or the LMC of one of the caller's practices."""
    principal = context.principal
    _directory_reader(principal)
    allowed = principal.operates(DOMAIN) or principal.is_lmc_of(code)
    if principal.role is Role.PRACTICE:
        own = await context.practices.load_many(sorted(principal.scope))
        allowed = any(row is not None and row.lmc_code == code for row in own)
    if not allowed:
        raise Forbidden
    return await context.lmcs.load(code)


def practice_filter(
    principal: Principal, lmc_code: str | None
) -> tuple[list[str] | None, list[str] | None]:
    """(LMC codes, practice codes) a directory listing is limited to; None means no limit."""
    _directory_reader(principal)
    if principal.operates(DOMAIN):
        return ([lmc_code] if lmc_code else None), None
    if principal.role is Role.LMC:
        if lmc_code is not None and lmc_code not in principal.scope:
            raise Forbidden
        return ([lmc_code] if lmc_code else sorted(principal.scope)), None
    return ([lmc_code] if lmc_code else None), sorted(principal.scope)


def lmc_summary(principal: Principal, code: str) -> None:
    """An LMC's aggregates are for the LMC itself, this domain's operators and admins."""
    if not (principal.operates(DOMAIN) or principal.is_lmc_of(code)):
        raise Forbidden


async def searchable_practice_codes(context: PerformersContext) -> list[str] | None:
    """Practices whose performers (past or present) a search may return; None for all."""
    principal = context.principal
    if principal.operates(DOMAIN):
        return None
    _directory_reader(principal)
    if principal.role is Role.PRACTICE:
        return sorted(principal.scope)
    codes: list[str] = []
    for lmc_code in sorted(principal.scope):
        codes.extend(await context.practices_of_lmc.load(lmc_code))
    return codes


async def can_start(context: PerformersContext, ods_code: str) -> models.Practice | None:
    """ "Can this GP start here?" is for the practice itself, its LMC and this domain's
    operators. Its facts are public ones (the list is published under reg 3; the GMC's
    registers are public), plus requests at that practice, so any GMC number may be asked.
    A practice is checked on the code it names, before any lookup."""
    principal = context.principal
    if principal.role is Role.PRACTICE:
        if ods_code not in principal.scope:
            raise Forbidden
        return await context.practices.load(ods_code)
    if not (principal.operates(DOMAIN) or principal.role is Role.LMC):
        raise Forbidden
    row = await context.practices.load(ods_code)
    if principal.role is Role.LMC and (row is None or not sees_practice(principal, row)):
        raise Forbidden
    return row
