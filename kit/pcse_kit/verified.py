"""Verified tokens remembered for a short while, so a caller's next request skips the signature.

Every request to a service carries the caller's token, and the gateway sends the same token to
each subgraph an operation touches: without a cache each service checks the same Ed25519 or
RSA signature again and again, about a tenth of a subgraph's CPU on the practice status query.

Only a token that passed every check of :class:`~pcse_kit.auth.TokenVerifier` is remembered,
with the principal it made, keyed by a SHA-256 hash of the whole ``Authorization`` value (so
the cache holds no usable token). A refusal is never remembered, so nothing a caller sends
without a valid token takes a place. An entry lasts until the token expires (with the
verifier's leeway, as the check itself allows) or ``max_age`` seconds, whichever is sooner:
the bound on how long a key withdrawn from the identity provider's set, or a token verified
under it, stays trusted beyond the key set's own age. The least recently used entry makes way
once ``size`` are held. The gateway's verifier (``gateway/auth.mjs``) remembers tokens the same
way. Which principal a token makes, and what a principal may do, is unchanged: the cache
returns the principal the verifier made, and each resolver applies its policy to it.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Final

import jwt

from pcse_kit.auth import LEEWAY_SECONDS

if TYPE_CHECKING:
    from collections.abc import Callable

    from pcse_kit.auth import Principal, TokenVerifier

CACHE_SIZE: Final = 10_000
"""Tokens remembered; ``*_AUTH_CACHE_SIZE``, 0 checks every request's signature."""
CACHE_SECONDS: Final = 60.0
"""The longest a verified token is trusted without checking its signature again."""


class CachingVerifier:
    """A :class:`TokenVerifier` that remembers the tokens it accepted (see the module)."""

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        size: int = CACHE_SIZE,
        max_age: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.verifier = verifier
        self.size = size
        self.max_age = max_age
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def verify(self, authorization: str | None) -> Principal:
        """The principal of an ``Authorization`` value, as :meth:`TokenVerifier.verify`."""
        if self.size <= 0 or not authorization:
            return await self.verifier.verify(authorization)
        key = hashlib.sha256(authorization.encode()).digest()
        entry = self._entries.get(key)
        now = self._clock()
        if entry is not None:
            principal, until = entry
            if now < until:
                self._entries.move_to_end(key)
                return principal
            del self._entries[key]
        principal = await self.verifier.verify(authorization)
        # Verified above: the claims are read again only for the token's expiry.
        token = authorization.partition(" ")[2]
        expires = jwt.decode(token, options={"verify_signature": False})["exp"]
        until = min(float(expires) + LEEWAY_SECONDS, now + self.max_age)
        self._entries[key] = (principal, until)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return principal
