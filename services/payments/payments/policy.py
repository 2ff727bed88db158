"""Who may see and change what in the payments service.

A practice sees and manages its own practices' payments; an accountant sees the payments of
practices whose consent to it is active at the time of the request (a revocation takes effect
on the next request), and, where that consent's scope includes pensions, the practice's side of
its GPs' pensions; operators of this domain and admins see everything. LMCs see no single
practice's payments here: their view is the area's aggregates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pcse_kit.auth import Forbidden, Principal, Role

if TYPE_CHECKING:
    from payments.context import PaymentsContext

DOMAIN = "payments"


async def may_read_practice(context: PaymentsContext, ods_code: str) -> bool:
    principal = context.principal
    if principal.operates(DOMAIN) or principal.is_practice_of(ods_code):
        return True
    if principal.role is Role.ACCOUNTANT:
        return await context.consented.load((principal.subject, ods_code))
    return False


async def read_practice(context: PaymentsContext, ods_code: str) -> None:
    """Refuse, without saying whether the practice exists, unless the caller may read it."""
    if not await may_read_practice(context, ods_code):
        raise Forbidden


async def read_practice_pensions(context: PaymentsContext, ods_code: str) -> None:
    """The practice's side of its GPs' pensions: the practice, this domain's operators and
    admins, and an accountant whose active consent includes pensions; a payments-only consent
    does not reach them."""
    principal = context.principal
    if principal.operates(DOMAIN) or principal.is_practice_of(ods_code):
        return
    if principal.role is Role.ACCOUNTANT and ods_code in await context.pension_consents.load(
        principal.subject
    ):
        return
    raise Forbidden


def manage_consent(principal: Principal, ods_code: str) -> None:
    """Only the practice itself (or an admin) grants or revokes an accountant's access."""
    if not (principal.is_admin or principal.is_practice_of(ods_code)):
        raise Forbidden


async def read_disputes(context: PaymentsContext, ods_code: str) -> None:
    """Disputes are the practice's correspondence with PCSE, not payments data: its own staff,
    this domain's operators and admins only; an accountant's consent does not reach them."""
    principal = context.principal
    if not (principal.operates(DOMAIN) or principal.is_practice_of(ods_code)):
        raise Forbidden


def lmc_summary(principal: Principal, lmc_code: str) -> None:
    """An LMC's aggregates: the LMC itself, this domain's operators and admins. Counts and
    amounts only: no patient, and no single GP's pension."""
    if not (principal.operates(DOMAIN) or principal.is_lmc_of(lmc_code)):
        raise Forbidden


async def pension_practices(context: PaymentsContext, gmc_number: str) -> list[str] | None:
    """The practices whose side of a performer's pension the caller may see; None for all.

    Operators of this domain and admins see all of it. A practice sees the posts the GP holds
    or held with it (through its estimates and memberships), never another practice's; an
    accountant those of the practices whose consent to it includes pensions (a payments-only
    consent does not reach them); anyone else, LMCs included, is refused without learning
    whether the GP exists.
    """
    principal = context.principal
    if principal.operates(DOMAIN):
        return None
    if principal.role is Role.PRACTICE:
        allowed = set(principal.scope)
    elif principal.role is Role.ACCOUNTANT:
        allowed = set(await context.pension_consents.load(principal.subject))
    else:
        raise Forbidden
    linked = await context.practices_of_performer.load(gmc_number)
    codes = sorted(set(linked) & allowed)
    if not codes:
        raise Forbidden
    return codes
