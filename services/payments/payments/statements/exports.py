"""Ledger exports: who may export which practices, their totals, and the file streamed.

``GET /exports/payments?format=xero&from=2025-04-01&to=2026-03-31[&odsCode=A81001]`` (the
gateway serves it at the same path, with the same bearer token) streams the file: one
practice's CSV, or, for an accountant asking for every practice it holds consent for, a ZIP
with one CSV per practice (a bank statement import is one bank account, and each practice
banks on its own). Rows come from a server-side cursor a batch at a time; nothing holds the
whole range. ``paymentsExport`` in GraphQL validates the same request and answers its totals,
worked out in SQL apart from the file, and the path to download it.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pcse_kit.auth import Forbidden, Role
from pcse_kit.errors import BadUserInput, ClientError
from pcse_kit.identifiers import practice_code

from payments import policy
from payments.consent import repository as consent_repository
from payments.models import Component, LineRow
from payments.statements import ledger, repository
from payments.statements.ledger import CashRow, LedgerFormat, NominalAccount

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence
    from datetime import date

    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

BATCH_ROWS = 500
PATH = "/exports/payments"


@dataclass(frozen=True)
class ExportRequest:
    fmt: LedgerFormat
    start: date
    end: date
    ods_codes: tuple[str, ...]
    owner: str
    """Whose chart of accounts a journal uses: the caller's token subject."""

    @property
    def zipped(self) -> bool:
        return len(self.ods_codes) != 1

    @property
    def filename(self) -> str:
        span = f"{self.start.isoformat()}_{self.end.isoformat()}"
        if self.zipped:
            return f"payments-{self.fmt.value}-{span}.zip"
        return f"payments-{self.ods_codes[0]}-{self.fmt.value}-{span}.csv"

    @property
    def content_type(self) -> str:
        return "application/zip" if self.zipped else "text/csv; charset=utf-8"

    @property
    def path(self) -> str:
        query = {"format": self.fmt.value, "from": str(self.start), "to": str(self.end)}
        if not self.zipped:
            query["odsCode"] = self.ods_codes[0]
        return f"{PATH}?{urlencode(query)}"


def ledger_format(value: str | None) -> LedgerFormat:
    # The file's own spelling (quickbooks3) or the GraphQL enum's (QUICKBOOKS_3).
    wanted = (value or "").lower().replace("_", "")
    try:
        return LedgerFormat(wanted)
    except ValueError:
        listed = ", ".join(f.value for f in LedgerFormat)
        raise BadUserInput(f"`format` must be one of {listed}.", field="format") from None


async def exportable_practices(
    session: AsyncSession, principal: Principal, ods_code: str | None
) -> tuple[str, ...]:
    """The practices the caller may export, or the one it asked for if it may.

    A practice exports its own; an accountant every practice whose active consent it holds
    (payments only is enough); operators of payments and admins one practice at a time. Anyone
    else is refused, without learning whether a practice exists.
    """
    code = None if ods_code is None else practice_code(ods_code)
    if principal.role is Role.PRACTICE:
        allowed = sorted(principal.scope)
    elif principal.role is Role.ACCOUNTANT:
        allowed = await consent_repository.consented_practices(session, principal.subject)
    elif principal.operates(policy.DOMAIN):
        if code is None:
            raise BadUserInput("Name the practice to export (`odsCode`).", field="odsCode")
        return (code,)
    else:
        raise Forbidden
    if code is None:
        return tuple(allowed)
    if code not in allowed:
        raise Forbidden
    return (code,)


async def prepare(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    fmt: str | LedgerFormat | None,
    start: str | date | None,
    end: str | date | None,
    ods_code: str | None,
) -> ExportRequest:
    """Validate an export request: a typed error naming the field, or what to export."""
    chosen = fmt if isinstance(fmt, LedgerFormat) else ledger_format(fmt)
    first, last = ledger.date_range(start, end)
    async with sessionmaker() as session:
        codes = await exportable_practices(session, principal, ods_code)
    return ExportRequest(
        fmt=chosen, start=first, end=last, ods_codes=codes, owner=principal.subject
    )


async def chart(
    sessionmaker: async_sessionmaker[AsyncSession], owner: str
) -> dict[Component, NominalAccount]:
    async with sessionmaker() as session:
        rows = await repository.ledger_chart(session, owner)
    return {component: NominalAccount(code, name) for component, (code, name) in rows.items()}


async def totals(
    sessionmaker: async_sessionmaker[AsyncSession], request: ExportRequest
) -> dict[str, tuple[int, int, int]]:
    async with sessionmaker() as session:
        found = await repository.cash_totals(session, request.ods_codes, request.start, request.end)
    return {code: found.get(code, (0, 0, 0)) for code in request.ods_codes}


async def _batches(
    session: AsyncSession, ods_code: str, start: date, end: date
) -> AsyncIterator[list[CashRow]]:
    result = await session.stream(
        repository.cash_lines(ods_code, start, end).execution_options(yield_per=BATCH_ROWS)
    )
    async for partition in result.partitions(BATCH_ROWS):
        batch = []
        for row in partition:
            moved = ledger.cash_rows(ods_code, row[0], LineRow(*row[1:]))
            if moved is not None:
                batch.append(moved)
        yield batch


async def practice_csv(
    session: AsyncSession,
    request: ExportRequest,
    ods_code: str,
    accounts: dict[Component, NominalAccount],
) -> AsyncIterator[str]:
    writer = ledger.Writer(request.fmt, accounts)
    yield writer.header()
    async for batch in _batches(session, ods_code, request.start, request.end):
        yield writer.rows(batch)


class _ZipSink(io.RawIOBase):
    """Where zipfile writes: kept until the stream takes it. Not seekable, so zipfile writes
    each file's sizes after its data (a data descriptor) and never goes back."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.chunks.append(chunk)
        return len(chunk)

    def take(self) -> bytes:
        taken = b"".join(self.chunks)
        self.chunks.clear()
        return taken


async def stream(
    sessionmaker: async_sessionmaker[AsyncSession], request: ExportRequest
) -> AsyncIterator[bytes]:
    """The file, a batch of rows at a time."""
    accounts = await chart(sessionmaker, request.owner)
    async with sessionmaker() as session:
        if not request.zipped:
            async for text in practice_csv(session, request, request.ods_codes[0], accounts):
                yield text.encode()
            return
        sink = _ZipSink()
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for code in request.ods_codes:
                name = f"{code}-{request.fmt.value}-{request.start}_{request.end}.csv"
                with archive.open(name, "w") as member:
                    async for text in practice_csv(session, request, code, accounts):
                        member.write(text.encode())
                        yield sink.take()
        yield sink.take()


def _error(error: ClientError, status: int) -> JSONResponse:
    # The same shape as a GraphQL error, so a client reads one kind of refusal.
    return JSONResponse(
        {"errors": [{"message": error.message, "extensions": error.extensions}]},
        status_code=status,
    )


router = APIRouter()


@router.get(PATH, include_in_schema=False)
async def export_payments(request: Request) -> Response:
    """Stream a ledger export; refusals answer in GraphQL's error shape."""
    principal = await request.app.state.verifier.verify(request.headers.get("authorization"))
    sessionmaker = request.app.state.sessionmaker
    params = request.query_params
    try:
        prepared = await prepare(
            sessionmaker,
            principal,
            fmt=params.get("format"),
            start=params.get("from"),
            end=params.get("to"),
            ods_code=params.get("odsCode"),
        )
    except Forbidden as error:
        return _error(error, 403)
    except ClientError as error:
        return _error(error, 400)
    return StreamingResponse(
        stream(sessionmaker, prepared),
        media_type=prepared.content_type,
        headers={
            "content-disposition": f'attachment; filename="{prepared.filename}"',
            "cache-control": "no-store",
        },
    )


def practice_paths(request: ExportRequest) -> Sequence[str]:
    """One download path per practice, for a client that wants the files one at a time."""
    return [
        ExportRequest(
            fmt=request.fmt,
            start=request.start,
            end=request.end,
            ods_codes=(code,),
            owner=request.owner,
        ).path
        for code in request.ods_codes
    ]
