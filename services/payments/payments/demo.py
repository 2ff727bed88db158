"""Deterministic demo statements: a year of monthly statements for every demo practice."""

from __future__ import annotations

import calendar
import json
import random
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, insert, select

from payments.models import Component, Statement, StatementLine
from payments.settings import PaymentsSettings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

FIRST_PERIOD = date(2025, 11, 1)
MONTHS = 12
SEED = 5

# Illustrative annual figures; the payments issue replaces them with the expected schedule.
GLOBAL_SUM_PENCE_PER_PATIENT_YEAR = 11_207
LMC_LEVY_PENCE = {"kernow": (45, 6), "essex": (42, 6), "humberside": (55, 1), "llr": (42, 6)}


def months(first: date, count: int) -> list[date]:
    return [
        date(first.year + (first.month - 1 + i) // 12, (first.month - 1 + i) % 12 + 1, 1)
        for i in range(count)
    ]


def last_day(period: date) -> date:
    return period.replace(day=calendar.monthrange(period.year, period.month)[1])


def statement_lines(practice: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    patients = int(practice["listSize"])
    global_sum = patients * GLOBAL_SUM_PENCE_PER_PATIENT_YEAR // 12
    qof_aspiration = rng.randint(900_000, 2_400_000)
    premises = rng.randint(150_000, 600_000)
    enhanced = rng.randint(50_000, 300_000)
    pensionable = global_sum // 4
    statutory, voluntary = LMC_LEVY_PENCE[str(practice["lmcCode"])]
    lines = [
        (Component.GLOBAL_SUM, "GSUM", "Global sum", global_sum),
        (Component.QOF_ASPIRATION, "QOFASP", "QOF aspiration", qof_aspiration),
        (Component.PREMISES, "PREMRENT", "Premises: notional rent", premises),
        (Component.ENHANCED_SERVICE, "ESCHILD", "Enhanced service: childhood imms", enhanced),
        (
            Component.EMPLOYEE_SUPERANNUATION,
            "SUPEREE",
            "Superannuation: employee contributions",
            -(pensionable * 98 // 1000),
        ),
        (
            Component.EMPLOYER_SUPERANNUATION,
            "SUPERER",
            "Superannuation: employer contributions",
            -(pensionable * 237 // 1000),
        ),
        (
            Component.PENSION_ADMIN_LEVY,
            "SUPADMIN",
            "Pension admin levy",
            -(pensionable * 8 // 10000),
        ),
        (
            Component.LMC_STATUTORY_LEVY,
            "LMCSTAT",
            "LMC statutory levy",
            -(patients * statutory // 12),
        ),
        (
            Component.LMC_VOLUNTARY_LEVY,
            "LMCVOL",
            "LMC voluntary levy",
            -(patients * voluntary // 12),
        ),
    ]
    return [
        {"component": c, "paycode": p, "description": d, "amount_pence": a} for c, p, d, a in lines
    ]


async def seed_demo(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    directory = json.loads(PaymentsSettings().demo_directory.read_text())
    rng = random.Random(SEED)
    async with sessionmaker.begin() as session:
        if await session.scalar(select(exists().select_from(Statement))):
            return False
        for practice in directory["practices"]:
            for period in months(FIRST_PERIOD, MONTHS):
                statement_id = await session.scalar(
                    insert(Statement)
                    .values(
                        ods_code=practice["odsCode"],
                        period=period,
                        payment_date=last_day(period),
                        source_system="PCSE Online",
                    )
                    .returning(Statement.id)
                )
                await session.execute(
                    insert(StatementLine),
                    [
                        {"statement_id": statement_id, **line}
                        for line in statement_lines(practice, rng)
                    ],
                )
    return True
