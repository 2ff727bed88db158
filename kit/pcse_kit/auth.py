"""Bearer tokens: who is calling, verified in every service, not only at the gateway.

Tokens are JWTs signed with an asymmetric key (Ed25519 in development; any of EdDSA, ES256 or
RS256 from a JWKS in production), so a service can check them without holding any secret.
A token says who the caller is (``sub``), in which role, and over what (``scope``):

=========== ============================================ =========================================
role        scope                                        may
=========== ============================================ =========================================
practice    its ODS codes (``["A81001"]``)               see its own practices' data
lmc         its LMC code (``["kernow"]``)                see its area's directory and aggregates
accountant  (none; ``sub`` is the accountant's id)       see the payments of practices that consent
operator    its domains (``["payments", "records"]``)    read and write in those domains
admin       (none)                                       everything
=========== ============================================ =========================================
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pcse_kit.errors import ClientError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

ALGORITHMS: Final = ("EdDSA", "ES256", "RS256")
LEEWAY_SECONDS: Final = 30
MAX_TOKEN_BYTES: Final = 8192


class Role(enum.StrEnum):
    PRACTICE = "practice"
    LMC = "lmc"
    ACCOUNTANT = "accountant"
    OPERATOR = "operator"
    ADMIN = "admin"


class Unauthenticated(ClientError):
    """No token, or one that is expired, wrongly signed, or for another audience."""

    code = "UNAUTHENTICATED"


class Forbidden(ClientError):
    """The caller is known but may not see or do this.

    The message never says whether the thing exists.
    """

    code = "FORBIDDEN"

    def __init__(self, message: str = "You may not see or change this.") -> None:
        super().__init__(message)


@dataclass(frozen=True)
class Principal:
    """The verified caller."""

    subject: str
    role: Role
    scope: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def is_practice_of(self, ods_code: str) -> bool:
        return self.role is Role.PRACTICE and ods_code in self.scope

    def is_lmc_of(self, lmc_code: str) -> bool:
        return self.role is Role.LMC and lmc_code in self.scope

    def operates(self, domain: str) -> bool:
        """Admins, and operators of ``domain``."""
        return self.is_admin or (self.role is Role.OPERATOR and domain in self.scope)


def _principal(claims: dict[str, Any]) -> Principal:
    try:
        role = Role(str(claims.get("role")))
    except ValueError:
        raise Unauthenticated("The token has no valid role.") from None
    subject = claims.get("sub")
    scope = claims.get("scope", [])
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated("The token has no subject.")
    if not isinstance(scope, list) or not all(isinstance(s, str) for s in scope):
        raise Unauthenticated("The token's scope must be a list of strings.")
    return Principal(subject=subject, role=role, scope=frozenset(scope))


class TokenVerifier:
    """Checks signature, expiry, issuer and audience; keys from PEM files or a JWKS URL."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        public_keys: Iterable[Any] = (),
        jwks_url: str | None = None,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self._keys = list(public_keys)
        # PyJWKClient caches the key set and fetches it again for an unknown key id.
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True) if jwks_url else None
        if not self._keys and self._jwks is None:
            raise ValueError("a token verifier needs public keys or a JWKS URL")

    @classmethod
    def from_files(
        cls, *, issuer: str, audience: str, key_files: Iterable[Path], jwks_url: str | None
    ) -> TokenVerifier:
        keys = [serialization.load_pem_public_key(path.read_bytes()) for path in key_files]
        return cls(issuer=issuer, audience=audience, public_keys=keys, jwks_url=jwks_url)

    async def verify(self, authorization: str | None) -> Principal:
        """The principal of an ``Authorization: Bearer ...`` header value."""
        if not authorization:
            raise Unauthenticated("Sign in: send Authorization: Bearer <token>.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_BYTES:
            raise Unauthenticated("The Authorization header must be 'Bearer <token>'.")
        keys = list(self._keys)
        if self._jwks is not None:
            try:
                # The JWKS client does blocking I/O when its cache misses.
                signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            except jwt.PyJWTError:
                raise Unauthenticated("The token is not valid.") from None
            keys.append(signing_key.key)
        for key in keys:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=list(ALGORITHMS),
                    audience=self.audience,
                    issuer=self.issuer,
                    leeway=LEEWAY_SECONDS,
                    options={"require": ["exp", "iat", "sub", "iss", "aud"]},
                )
            except jwt.ExpiredSignatureError:
                raise Unauthenticated("The token has expired.") from None
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError:
                raise Unauthenticated("The token is not valid.") from None
            return _principal(claims)
        raise Unauthenticated("The token is not valid.")


@dataclass(frozen=True)
class SigningKey:
    """A development or test key pair; production tokens come from the identity provider."""

    private_pem: bytes
    public_pem: bytes

    @classmethod
    def generate(cls) -> SigningKey:
        private = Ed25519PrivateKey.generate()
        return cls(
            private_pem=private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            public_pem=private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )

    @classmethod
    def load_or_create(cls, directory: Path) -> SigningKey:
        """The key pair kept in ``directory``, made on first use (private key mode 0600)."""
        private_path, public_path = directory / "private.pem", directory / "public.pem"
        if not private_path.exists():
            key = cls.generate()
            directory.mkdir(parents=True, exist_ok=True)
            private_path.touch(mode=0o600)
            private_path.write_bytes(key.private_pem)
            public_path.write_bytes(key.public_pem)
        return cls(private_pem=private_path.read_bytes(), public_pem=public_path.read_bytes())

    def sign(
        self,
        *,
        subject: str,
        role: Role | str,
        scope: Iterable[str] = (),
        issuer: str,
        audience: str,
        ttl_seconds: int = 3600,
        now: float | None = None,
    ) -> str:
        issued = int(time.time() if now is None else now)
        claims = {
            "sub": subject,
            "role": str(role),
            "scope": list(scope),
            "iss": issuer,
            "aud": audience,
            "iat": issued,
            "exp": issued + ttl_seconds,
        }
        key = serialization.load_pem_private_key(self.private_pem, password=None)
        return jwt.encode(claims, key, algorithm="EdDSA")  # type: ignore[arg-type]
