from __future__ import annotations

from typing import TYPE_CHECKING

from pcse_kit.testing import (
    assert_bad_representations_fail_alone,
    assert_migrations_match_models,
    graphql,
)

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI
    from sqlalchemy import MetaData

ENTITIES = """
query ($reps: [_Any!]!) { _entities(representations: $reps) { ... on Practice { odsCode } } }
"""


async def test_practice_entity_resolves_from_its_key(client: httpx.AsyncClient) -> None:
    body = await graphql(
        client, ENTITIES, {"reps": [{"__typename": "Practice", "odsCode": "A81001"}]}
    )
    assert body == {"data": {"_entities": [{"odsCode": "A81001"}]}}


async def test_malformed_representations_fail_alone_and_cleanly(
    client: httpx.AsyncClient,
) -> None:
    await assert_bad_representations_fail_alone(
        client,
        good={"__typename": "Practice", "odsCode": "A81001"},
        bad=[
            {"__typename": "Practice"},
            {"__typename": "Practice", "odsCode": 81001},
            {"__typename": "Practice", "odsCode": "a81001"},
            {"__typename": "Practice", "odsCode": "A81001", "extra": True},
        ],
        selection="odsCode",
    )


async def test_migrations_match_the_models(app: FastAPI, service_metadata: MetaData) -> None:
    await assert_migrations_match_models(app, service_metadata)
