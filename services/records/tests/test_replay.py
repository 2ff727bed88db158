"""A replayed idempotency key is answered only to a caller who may still see the answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pcse_kit.testing import Token, graphql

if TYPE_CHECKING:
    import httpx

CANCEL = """
mutation ($number: String!) {
  cancelRecordMovement(input: {movementNumber: $number, reason: "Registered in error",
                               idempotencyKey: "replay-cancel-1"}) {
    movementNumber status sending { odsCode } receiving { odsCode }
  }
}
"""


async def test_a_replay_under_a_token_with_other_rights_gets_nothing_back(
    make_movement: Any, client: httpx.AsyncClient, token: Token
) -> None:
    """The finding: the same subject, now with a token for another practice, replayed the key
    and got the movement back (and through it the movement's ends) although it may no longer
    see it."""
    number = await make_movement(sender="B82002", receiver="A81001")
    first = await graphql(
        client, CANCEL, {"number": number}, token=token("practice", ["A81001"], subject="pm-1")
    )
    assert first["data"]["cancelRecordMovement"]["status"] == "CANCELLED"

    replay = await graphql(
        client, CANCEL, {"number": number}, token=token("practice", ["F83424"], subject="pm-1")
    )
    assert replay["data"] is None
    assert [e["extensions"]["code"] for e in replay["errors"]] == ["CONFLICT"]
    assert number not in str(replay)
