"""The payments subgraph. It adds payments to Practice; it owns no root query yet."""

from __future__ import annotations

from pcse_kit.graphql import create_schema

from payments.types import Practice

schema = create_schema(query=None, types=[Practice])
