"""Loads the demo directory (demo/directory.json) into the performers database, once."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, insert, select

from performers.models import Lmc, LmcIcb, Membership, Performer, Practice
from performers.settings import PerformersSettings

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


def read_directory(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


async def seed_demo(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    directory = read_directory(PerformersSettings().demo_directory)
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
                    "postcode": p["postcode"],
                    "icb_code": p["icbCode"],
                    "sub_icb_code": p["subIcbCode"],
                    "lmc_code": p["lmcCode"],
                    "contract_type": p["contractType"],
                    "list_size": p["listSize"],
                }
                for p in directory["practices"]
            ],
        )
        await session.execute(
            insert(Performer),
            [
                {
                    "gmc_number": p["gmcNumber"],
                    "given_name": p["givenName"],
                    "family_name": p["familyName"],
                    "status": p["status"],
                }
                for p in directory["performers"]
            ],
        )
        await session.execute(
            insert(Membership),
            [
                {
                    "gmc_number": m["gmcNumber"],
                    "ods_code": m["odsCode"],
                    "role": m["role"],
                    "start_date": date.fromisoformat(m["startDate"]),
                    "end_date": None if m["endDate"] is None else date.fromisoformat(m["endDate"]),
                }
                for m in directory["memberships"]
            ],
        )
    return True
