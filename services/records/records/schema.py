"""The records subgraph. It adds record movements to Practice; it owns no root query yet."""

from __future__ import annotations

from pcse_kit.graphql import create_schema

from records.types import Practice

schema = create_schema(query=None, types=[Practice])
