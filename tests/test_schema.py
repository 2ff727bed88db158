"""The checked-in SDL and supergraph are what the code and composition produce."""

from __future__ import annotations

from stack import SERVICES, schema


def test_schema_files_match_the_code() -> None:
    assert schema.drift() == [], "schema/ is stale: run `make schema` and commit the result"


def test_every_subgraph_pins_federation_2_9() -> None:
    for name in SERVICES:
        sdl = (schema.SCHEMA_DIR / f"{name}.graphql").read_text()
        assert '@link(url: "https://specs.apollo.dev/federation/v2.9"' in sdl
