"""SQL statements per LMC summary as the LMC grows from 1 to 500 practices: it must not grow.
(The records summary is counted with England's medians for its trends worked out, not cached.)

Runs each service's real app in process on one embedded PostgreSQL, fills an LMC of N practices
(the performers directory directly; payments' and records' copies through their own
`practice.upserted` handlers, as the event bus would), asks each service for the LMC's
summary with every field selected, and counts the statements each request sends.

    .venv/bin/python -m bench.lmc_statements
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    build_ast_schema,
    parse,
)
from payments.definition import SERVICE as PAYMENTS
from payments.directory import consumer as payments_directory
from pcse_kit.auth import SigningKey
from pcse_kit.db import StatementCounter
from pcse_kit.events import Event
from pcse_kit.postgres import EmbeddedPostgres
from pcse_kit.testing import (
    TEST_AUDIENCE,
    TEST_ISSUER,
    client_for,
    running_service,
    server_directory,
)
from performers.definition import SERVICE as PERFORMERS
from performers.models import ContractType, Lmc, Membership, Performer, Practice, Role
from records import directory as records_directory
from records import trends
from records.definition import SERVICE as RECORDS
from sqlalchemy import insert

from stack import ROOT

if TYPE_CHECKING:
    from pathlib import Path

    from fastapi import FastAPI

SIZES = (1, 10, 100, 500)


def selection(sdl: str, type_name: str, depth: int = 3) -> str:
    """Every field of ``type_name`` that needs no argument (or has defaults for them),
    recursively: the widest ask."""
    schema = build_ast_schema(parse(sdl), assume_valid_sdl=True)

    def fields(named: GraphQLObjectType, level: int) -> str:
        parts = []
        for name, field in named.fields.items():
            # A required argument without a default cannot be left out; the rest can.
            if any(
                isinstance(a.type, GraphQLNonNull)
                and (a.ast_node is None or a.ast_node.default_value is None)
                for a in field.args.values()
            ):
                continue
            inner = field.type
            while isinstance(inner, GraphQLNonNull | GraphQLList):
                inner = inner.of_type
            if isinstance(inner, GraphQLObjectType):
                if level < depth:
                    parts.append(f"{name} {{ {fields(inner, level + 1)} }}")
            else:
                parts.append(name)
        return " ".join(parts) or "__typename"

    named = schema.get_type(type_name)
    assert isinstance(named, GraphQLObjectType)
    return fields(named, 1)


def practice_event(ods: str, lmc: str) -> Event:
    return Event(
        event_id=uuid.uuid4(),
        stream="performers",
        type="practice.upserted",
        key=ods,
        payload={
            "odsCode": ods, "name": f"Practice {ods}", "lmcCode": lmc, "icbCode": "QT6",
            "subIcbCode": "11N", "status": "active", "listSize": 8000,
        },
        occurred_at=datetime.now(UTC),
        position=0,
    )  # fmt: skip


async def fill(apps: dict[str, FastAPI], lmc: str, size: int, offset: int) -> None:
    codes = [f"Y{offset + i:05d}" for i in range(size)]
    async with apps["performers"].state.sessionmaker.begin() as session:
        await session.execute(insert(Lmc).values(code=lmc, name=f"LMC {lmc}"))
        await session.execute(
            insert(Practice),
            [
                {"ods_code": c, "name": f"Practice {c}", "postcode": "TR1 1AA", "icb_code": "QT6",
                 "sub_icb_code": "11N", "lmc_code": lmc, "contract_type": ContractType.GMS,
                 "list_size": 8000}
                for c in codes
            ],
        )  # fmt: skip
        await session.execute(
            insert(Performer),
            [
                {"gmc_number": f"{offset + i:07d}", "given_name": "A", "family_name": "B",
                 "status": "included", "cct_date": date(2010, 1, 1),
                 "gp_register_on": date(2010, 1, 1)}
                for i in range(size)
            ],
        )  # fmt: skip
        await session.execute(
            insert(Membership),
            [
                {"gmc_number": f"{offset + i:07d}", "ods_code": c, "role": Role.PARTNER,
                 "start_date": date(2015, 1, 1)}
                for i, c in enumerate(codes)
            ],
        )  # fmt: skip
    for name, module in (("payments", payments_directory), ("records", records_directory)):
        async with apps[name].state.sessionmaker.begin() as session:
            for code in codes:
                await module.apply(session, practice_event(code, lmc))


async def count(app: FastAPI, token: str, query: str, variables: dict[str, Any]) -> int:
    # The worst case: England's medians for the records trends worked out, not cached.
    trends.forget_medians()
    async with client_for(app) as client:
        client.headers["authorization"] = f"Bearer {token}"
        with StatementCounter().attached(app.state.engine) as counter:
            response = await client.post("/graphql", json={"query": query, "variables": variables})
        body = response.json()
        assert "errors" not in body, body
    return counter.count


async def run(postgres: EmbeddedPostgres, key_file: Path, key: SigningKey) -> None:
    token = key.sign(subject="bench", role="admin", issuer=TEST_ISSUER, audience=TEST_AUDIENCE)
    sdl = {n: (ROOT / "schema" / f"{n}.graphql").read_text() for n in ("payments", "records")}
    queries = {
        "performers": "query ($c: String!) { lmc(code: $c) { "
        + selection((ROOT / "schema" / "performers.graphql").read_text(), "Lmc")
        + ' entrantsAndLeavers(since: "2000-01-01") { nodes { kind } } } }',
        "payments": "query ($r: [_Any!]!) { _entities(representations: $r) { ... on Lmc { "
        "paymentsSummary { " + selection(sdl["payments"], "LmcPaymentsSummary") + " } } } }",
        "records": "query ($r: [_Any!]!) { _entities(representations: $r) { ... on Lmc { "
        "recordsSummary { " + selection(sdl["records"], "RecordsLmcSummary") + " } } } }",
    }
    services = {"performers": PERFORMERS, "payments": PAYMENTS, "records": RECORDS}
    apps: dict[str, FastAPI] = {}
    contexts = [running_service(s, postgres, key_file) for s in services.values()]
    for name, context in zip(services, contexts, strict=True):
        apps[name] = await context.__aenter__()
    try:
        print("SQL statements for one LMC summary request, by practices in the LMC:")
        print(f"  {'practices':>9} " + " ".join(f"{n:>11}" for n in services))
        for index, size in enumerate(SIZES):
            lmc = f"bench-{size}"
            await fill(apps, lmc, size, offset=index * 1000)
            variables = {"c": lmc, "r": [{"__typename": "Lmc", "code": lmc}]}
            counts = [await count(apps[n], token, queries[n], variables) for n in services]
            print(f"  {size:>9} " + " ".join(f"{c:>11}" for c in counts))
    finally:
        for context in reversed(contexts):
            await context.__aexit__(None, None, None)


def main() -> None:
    key = SigningKey.generate()
    with server_directory() as directory:
        key_file = directory / "public.pem"
        key_file.write_bytes(key.public_pem)
        with EmbeddedPostgres(directory / "data", durable=False) as postgres:
            asyncio.run(run(postgres, key_file, key))


if __name__ == "__main__":
    main()
