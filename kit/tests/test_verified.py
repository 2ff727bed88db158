"""Verified tokens remembered: what is kept, for how long, and what never is."""

from __future__ import annotations

import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from pcse_kit.auth import Principal, Role, SigningKey, TokenVerifier, Unauthenticated
from pcse_kit.verified import CachingVerifier

ISSUER = AUDIENCE = "pcse-status"


class CountingVerifier(TokenVerifier):
    """The real verifier, counting the signatures it checks."""

    checks = 0

    async def verify(self, authorization: str | None) -> Principal:
        self.checks += 1
        return await super().verify(authorization)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


def verifier(key: SigningKey) -> CountingVerifier:
    return CountingVerifier(
        issuer=ISSUER,
        audience=AUDIENCE,
        public_keys=[serialization.load_pem_public_key(key.public_pem)],
    )


def bearer(key: SigningKey, *, ttl: int = 3600, **claims: Any) -> str:
    token = key.sign(
        subject=claims.pop("subject", "pm-1"),
        role=claims.pop("role", Role.PRACTICE),
        scope=claims.pop("scope", ["A81001"]),
        issuer=ISSUER,
        audience=AUDIENCE,
        ttl_seconds=ttl,
    )
    return f"Bearer {token}"


async def test_a_verified_token_is_checked_once_and_makes_the_same_principal(
    key: SigningKey,
) -> None:
    inner = verifier(key)
    cache = CachingVerifier(inner)
    header = bearer(key)
    first = await cache.verify(header)
    assert await cache.verify(header) == first
    assert await cache.verify(header) == first
    assert first == Principal(subject="pm-1", role=Role.PRACTICE, scope=frozenset({"A81001"}))
    assert inner.checks == 1
    # Another practice's token is its own entry, with its own principal.
    other = await cache.verify(bearer(key, scope=["B82002"]))
    assert other.scope == frozenset({"B82002"})
    assert inner.checks == 2


async def test_a_refused_token_is_never_remembered(key: SigningKey) -> None:
    inner = verifier(key)
    cache = CachingVerifier(inner)
    forged = bearer(SigningKey.generate())  # signed by a key the service does not trust
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            await cache.verify(forged)
    for header in (None, "", "Basic abc", "Bearer not-a-jwt"):
        with pytest.raises(Unauthenticated):
            await cache.verify(header)
    assert len(cache) == 0
    assert inner.checks == 7


async def test_an_entry_ends_at_the_token_expiry_or_after_max_age(key: SigningKey) -> None:
    clock = Clock()
    inner = verifier(key)
    cache = CachingVerifier(inner, max_age=60, clock=clock)
    long_lived = bearer(key, ttl=3600)
    await cache.verify(long_lived)
    clock.now += 59
    await cache.verify(long_lived)
    assert inner.checks == 1
    clock.now += 2  # 61 s after it was verified: checked again
    await cache.verify(long_lived)
    assert inner.checks == 2

    # A token expiring in 10 s is trusted from the cache until then and the verifier's 30 s
    # leeway, never longer; past that it is checked, and the verifier refuses it.
    clock = Clock()
    inner = verifier(key)
    cache = CachingVerifier(inner, max_age=60, clock=clock)
    short = bearer(key, ttl=10)
    await cache.verify(short)
    clock.now += 39
    await cache.verify(short)
    assert inner.checks == 1
    clock.now += 2
    # The real verifier reads the real clock, by which the token is still valid: what matters
    # here is that the cache asked it again.
    await cache.verify(short)
    assert inner.checks == 2


async def test_the_least_recently_used_makes_way_and_size_zero_turns_it_off(
    key: SigningKey,
) -> None:
    inner = verifier(key)
    cache = CachingVerifier(inner, size=2)
    a, b, c = (bearer(key, subject=name) for name in ("a", "b", "c"))
    await cache.verify(a)
    await cache.verify(b)
    await cache.verify(a)  # a is now the most recently used
    await cache.verify(c)  # b makes way
    assert len(cache) == 2
    assert inner.checks == 3
    await cache.verify(a)
    assert inner.checks == 3
    await cache.verify(b)
    assert inner.checks == 4

    inner = verifier(key)
    off = CachingVerifier(inner, size=0)
    for _ in range(3):
        await off.verify(a)
    assert inner.checks == 3
    assert len(off) == 0
