"""Bearer tokens: who is calling, verified in every service, not only at the gateway.

Tokens are JWTs signed with an asymmetric key (Ed25519 in development; any of EdDSA, ES256 or
RS256 from a JWKS in production), so a service can check them without holding any secret.
A verified token becomes a :class:`Principal`: who the caller is (``sub``), in which role, and
over what (its scope):

=========== ============================================ =========================================
role        scope                                        may
=========== ============================================ =========================================
practice    its ODS codes (``["A81001"]``)               see its own practices' data
lmc         its LMC code (``["kernow"]``)                see its area's directory and aggregates
accountant  (none; ``sub`` is the accountant's id)       see the payments of practices that consent
operator    its domains (``["payments", "records"]``)    read and write in those domains
admin       (none)                                       everything
=========== ============================================ =========================================

Where the role and scope come from is :class:`ClaimsMapping`, tried in this order:

1. **Role claim.** The token carries the configured role claim (``role`` unless a namespaced
   name such as ``https://pcse.example/role`` is configured) and, optionally, the scope claim
   (``scope`` by default): a list of strings, or one string of values separated by spaces, as
   OAuth 2 providers send ``scope``.
2. **NHS staff (CIS2).** The token carries CIS2's national RBAC claims: ``nhsid_nrbac_roles``
   (each role with ``person_roleid``, ``org_code`` and ``role_code``, ``S...:G...:R....``) and
   ``selected_roleid``. The selected role makes the caller a ``practice`` over its
   ``org_code`` when that is a GP practice's ODS code and the job role (the ``R`` code at the
   end of ``role_code``) is one of the configured practice roles.
3. **Client credentials.** A token a client obtained for itself (``sub`` is its ``client_id``
   or ``azp``, or ``<id>@clients``; or ``gty`` is ``client-credentials``, or ``idtyp`` is
   ``app``) takes its role, scope and subject from the configured clients table, keyed by the
   client id: how an LMC's or an accountancy firm's system is let in. A client is never admin.

Anything else has no role here and is refused (401). ``gateway/auth.mjs`` applies the same
rules; ``kit/tests/data/claims-cases.json`` holds the cases both are tested against.
"""

from __future__ import annotations

import asyncio
import enum
import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from pcse_kit.errors import ClientError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping
    from pathlib import Path

ALGORITHMS: Final = ("EdDSA", "ES256", "RS256")
LEEWAY_SECONDS: Final = 30
MAX_TOKEN_BYTES: Final = 8192
MAX_SCOPE_ITEMS: Final = 1000
"""More scope values than any caller needs; a token with more is refused, not truncated."""

JWKS_MAX_AGE_SECONDS: Final = 600
"""A fetched key set is trusted this long, then fetched again (as the gateway's ``jose``)."""
JWKS_COOLDOWN_SECONDS: Final = 30
"""A token naming an unknown key id fetches the set again, at most this often."""
JWKS_TIMEOUT_SECONDS: Final = 5.0

DEVELOPMENT_ISSUER: Final = "pcse-status-development"
DEVELOPMENT_AUDIENCE: Final = "pcse-status-development"
PRODUCTION_ISSUER: Final = "pcse-status"
PRODUCTION_AUDIENCE: Final = "pcse-status"
DEVELOPMENT_KEY_MARKER: Final = "DEVELOPMENT-KEY"
"""A file of this name beside a key pair marks it as a development key: production refuses it."""

DEFAULT_CIS2_PRACTICE_ROLE_CODES: Final = frozenset({"R8000", "R8008"})
"""National RBAC job roles that make a CIS2 user a practice's: Clinical Practitioner Access Role
(R8000, the GPs) and Admin/Clinical Support Access Role (R8008, practice managers and
administrators). NHS England, "National RBAC for developers"; configurable per deployment."""

_PRACTICE_CODE = re.compile(r"[A-Z][0-9]{5}")


class Role(enum.StrEnum):
    PRACTICE = "practice"
    LMC = "lmc"
    ACCOUNTANT = "accountant"
    OPERATOR = "operator"
    ADMIN = "admin"


class Unauthenticated(ClientError):
    """No token, or one that is expired, wrongly signed, malformed, or for another audience."""

    code = "UNAUTHENTICATED"


class AuthUnavailable(ClientError):
    """The identity provider's key set cannot be fetched, so no token can be checked now."""

    code = "AUTH_UNAVAILABLE"


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


# --------------------------------------------------------------------------------------------
# From claims to a principal


@dataclass(frozen=True)
class ClientGrant:
    """What a client-credentials client may do: its role, scope and the subject it acts as."""

    role: Role
    scope: frozenset[str] = frozenset()
    subject: str | None = None


@dataclass(frozen=True, kw_only=True)
class ClaimsMapping:
    """Where a token's role and scope are read from; see the module's docstring."""

    role_claim: str = "role"
    scope_claim: str = "scope"
    cis2_practice_role_codes: frozenset[str] = DEFAULT_CIS2_PRACTICE_ROLE_CODES
    clients: Mapping[str, ClientGrant] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        *,
        role_claim: str = "role",
        scope_claim: str = "scope",
        cis2_practice_role_codes: str | None = None,
        clients_file: Path | None = None,
    ) -> ClaimsMapping:
        """A mapping from settings: claim names, a comma-separated list of R codes (None for
        the defaults, empty for none) and the clients file (JSON, see :func:`parse_clients`)."""
        codes = (
            DEFAULT_CIS2_PRACTICE_ROLE_CODES
            if cis2_practice_role_codes is None
            else frozenset(c.strip() for c in cis2_practice_role_codes.split(",") if c.strip())
        )
        clients = (
            {} if clients_file is None else parse_clients(json.loads(clients_file.read_text()))
        )
        if not role_claim or not scope_claim:
            raise ValueError("the role and scope claim names must not be empty")
        return cls(
            role_claim=role_claim,
            scope_claim=scope_claim,
            cis2_practice_role_codes=codes,
            clients=clients,
        )


def parse_clients(document: Any) -> dict[str, ClientGrant]:
    """The clients table: ``{"clients": {"<client id>": {"role": "lmc", "scope": ["kernow"],
    "subject": "..."}}}``. ``scope`` and ``subject`` are optional; the role is never admin."""
    if not isinstance(document, dict) or not isinstance(document.get("clients"), dict):
        raise ValueError('the clients file must be {"clients": {"<client id>": {...}}}')  # noqa: TRY004 - a configuration error, reported as one
    clients: dict[str, ClientGrant] = {}
    for client_id, entry in document["clients"].items():
        if not client_id or not isinstance(entry, dict):
            raise ValueError(f"client {client_id!r}: an entry must be an object")
        try:
            role = Role(str(entry.get("role")))
        except ValueError:
            raise ValueError(f"client {client_id!r}: role must be one of {list(Role)}") from None
        if role is Role.ADMIN:
            raise ValueError(f"client {client_id!r}: a client cannot be admin")
        scope = entry.get("scope", [])
        subject = entry.get("subject")
        if not isinstance(scope, list) or not all(isinstance(s, str) and s for s in scope):
            raise ValueError(f"client {client_id!r}: scope must be a list of strings")
        if subject is not None and (not isinstance(subject, str) or not subject):
            raise ValueError(f"client {client_id!r}: subject must be a non-empty string")
        clients[client_id] = ClientGrant(role=role, scope=frozenset(scope), subject=subject)
    return clients


def _scope_values(value: Any) -> frozenset[str]:
    """A scope claim: a list of strings, or one string of values separated by spaces."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        items = [item for item in value.split(" ") if item]
    elif isinstance(value, list) and all(isinstance(item, str) and item for item in value):
        items = value
    else:
        raise Unauthenticated("The token's scope must be a list of strings or one string.")
    if len(items) > MAX_SCOPE_ITEMS:
        raise Unauthenticated("The token's scope is too long.")
    return frozenset(items)


_NO_ROLE = "The token gives no role in PCSE status."


def _cis2_principal(subject: str, claims: dict[str, Any], mapping: ClaimsMapping) -> Principal:
    roles = claims.get("nhsid_nrbac_roles")
    selected = claims.get("selected_roleid")
    if not isinstance(roles, list) or not isinstance(selected, str) or not selected:
        raise Unauthenticated("The token has no selected national RBAC role.")
    entry = next(
        (r for r in roles if isinstance(r, dict) and r.get("person_roleid") == selected), None
    )
    if entry is None:
        raise Unauthenticated("The token's selected role is not among its roles.")
    role_code, org_code = entry.get("role_code"), entry.get("org_code")
    if not isinstance(role_code, str) or not isinstance(org_code, str):
        raise Unauthenticated(_NO_ROLE)
    job_role = role_code.rsplit(":", 1)[-1]
    if job_role not in mapping.cis2_practice_role_codes or not _PRACTICE_CODE.fullmatch(org_code):
        raise Unauthenticated(_NO_ROLE)
    return Principal(subject=subject, role=Role.PRACTICE, scope=frozenset({org_code}))


def _client_id(subject: str, claims: dict[str, Any]) -> str | None:
    """The client id of a token a client obtained for itself (client credentials), else None."""
    for name in ("client_id", "azp"):
        client = claims.get(name)
        if not isinstance(client, str) or not client:
            continue
        if (
            subject in {client, f"{client}@clients"}
            or claims.get("gty") == "client-credentials"
            or claims.get("idtyp") == "app"
        ):
            return client
    return None


def principal_from_claims(claims: dict[str, Any], mapping: ClaimsMapping) -> Principal:
    """The caller a verified token's claims describe, by the rules of the module docstring."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated("The token has no subject.")
    if mapping.role_claim in claims:
        value = claims[mapping.role_claim]
        if not isinstance(value, str) or value not in {role.value for role in Role}:
            raise Unauthenticated("The token has no valid role.")
        role = Role(value)
        return Principal(
            subject=subject, role=role, scope=_scope_values(claims.get(mapping.scope_claim))
        )
    if "nhsid_nrbac_roles" in claims:
        return _cis2_principal(subject, claims, mapping)
    client = _client_id(subject, claims)
    grant = None if client is None else mapping.clients.get(client)
    if client is not None and grant is not None:
        return Principal(subject=grant.subject or client, role=grant.role, scope=grant.scope)
    raise Unauthenticated(_NO_ROLE)


# --------------------------------------------------------------------------------------------
# Keys


def key_algorithm(key: object) -> str | None:
    """The one algorithm of ALGORITHMS a public key can verify, or None."""
    if isinstance(key, Ed25519PublicKey):
        return "EdDSA"
    if isinstance(key, EllipticCurvePublicKey) and isinstance(key.curve, SECP256R1):
        return "ES256"
    if isinstance(key, RSAPublicKey):
        return "RS256"
    return None


def load_public_key(path: Path) -> Any:
    """A PEM public key for one of ALGORITHMS; a private key or another type is refused."""
    pem = path.read_bytes()
    if b"PRIVATE KEY" in pem:
        raise ValueError(f"{path} holds a private key; give the service the public key only")
    key = serialization.load_pem_public_key(pem)
    if key_algorithm(key) is None:
        raise ValueError(f"{path} holds a {type(key).__name__}; expected Ed25519, P-256 or RSA")
    return key


def is_development_key(path: Path) -> bool:
    """True for a key file kept beside the development marker (see :class:`SigningKey`)."""
    return (path.resolve().parent / DEVELOPMENT_KEY_MARKER).exists()


@dataclass(frozen=True)
class _Key:
    key: Any
    algorithm: str
    kid: str | None = None


async def _http_fetch(url: str) -> Any:
    async with httpx.AsyncClient(timeout=JWKS_TIMEOUT_SECONDS, follow_redirects=False) as client:
        response = await client.get(url, headers={"accept": "application/json"})
        response.raise_for_status()
        return response.json()


def _parse_jwks(document: Any) -> list[jwt.PyJWK]:
    """The usable keys of a JWKS document; an empty set is a set (every key withdrawn), a
    document that is not a set is an error."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("not a JWK set")  # noqa: TRY004 - one handler for every malformation
    keys = []
    for entry in entries:
        try:
            keys.append(jwt.PyJWK(entry))
        except (jwt.PyJWTError, TypeError, ValueError, AttributeError):
            continue  # a key of a type we do not use, as PyJWT's own set parser skips it
    return keys


class JwksCache:
    """The identity provider's key set, fetched when needed and trusted for a bounded time.

    The set is fetched on first use and again once it is ``max_age`` old, so a key withdrawn
    from the set stops being trusted within ``max_age``. A token naming a key id the cached set
    lacks (a key rotated in) fetches it again at once, but at most every ``cooldown`` seconds,
    so tokens with made-up key ids cannot make the service hammer the provider. Concurrent
    requests share one fetch. If a fetch the cache needs fails, :class:`AuthUnavailable`.
    """

    def __init__(
        self,
        url: str,
        *,
        max_age: float = JWKS_MAX_AGE_SECONDS,
        cooldown: float = JWKS_COOLDOWN_SECONDS,
        fetch: Callable[[str], Awaitable[Any]] = _http_fetch,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._max_age = max_age
        self._cooldown = cooldown
        self._fetch = fetch
        self._clock = clock
        self._keys: list[_Key] = []
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    def _age(self) -> float:
        return float("inf") if self._fetched_at is None else self._clock() - self._fetched_at

    def _matching(self, kid: str | None, algorithm: str) -> list[_Key]:
        return [
            key
            for key in self._keys
            if key.algorithm == algorithm and (kid is None or key.kid == kid)
        ]

    async def keys_for(self, kid: str | None, algorithm: str) -> list[Any]:
        """The keys that may have signed a token with this ``kid`` and ``alg``."""
        if self._age() >= self._max_age:
            await self._refresh(lambda: self._age() >= self._max_age)
        keys = self._matching(kid, algorithm)
        if not keys and kid is not None and self._age() >= self._cooldown:
            await self._refresh(lambda: self._age() >= self._cooldown)
            keys = self._matching(kid, algorithm)
        return [key.key for key in keys]

    async def _refresh(self, still_needed: Callable[[], bool]) -> None:
        async with self._lock:
            if not still_needed():  # another request fetched it while this one waited
                return
            try:
                keys = _parse_jwks(await self._fetch(self.url))
            except (httpx.HTTPError, ValueError, TypeError):
                # A set we cannot read is no set: an expired one is not trusted meanwhile.
                if self._age() >= self._max_age:
                    self._keys = []
                raise AuthUnavailable(
                    "The identity provider's keys cannot be fetched; try again shortly."
                ) from None
            self._keys = [
                _Key(key=k.key, algorithm=k.algorithm_name, kid=k.key_id)
                for k in keys
                if k.algorithm_name in ALGORITHMS and k.public_key_use in {None, "sig"}
            ]
            self._fetched_at = self._clock()


class TokenVerifier:
    """Checks signature, expiry, issuer and audience; keys from PEM files or a JWKS URL.

    Every way a token can be malformed (not a JWT, an ``alg`` the keys cannot verify, a header
    of the wrong shape, claims of the wrong type) is :class:`Unauthenticated`, never an error
    of the service.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        public_keys: Iterable[Any] = (),
        jwks_url: str | None = None,
        jwks: JwksCache | None = None,
        claims: ClaimsMapping | None = None,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self._keys: list[_Key] = []
        for key in public_keys:
            algorithm = key_algorithm(key)
            if algorithm is None:
                raise ValueError(f"a {type(key).__name__} cannot verify {', '.join(ALGORITHMS)}")
            self._keys.append(_Key(key=key, algorithm=algorithm))
        self._jwks = jwks or (JwksCache(jwks_url) if jwks_url else None)
        self._claims = claims or ClaimsMapping()
        if not self._keys and self._jwks is None:
            raise ValueError("a token verifier needs public keys or a JWKS URL")

    @classmethod
    def from_files(
        cls,
        *,
        issuer: str,
        audience: str,
        key_files: Iterable[Path],
        jwks_url: str | None,
        claims: ClaimsMapping | None = None,
    ) -> TokenVerifier:
        keys = [load_public_key(path) for path in key_files]
        return cls(
            issuer=issuer, audience=audience, public_keys=keys, jwks_url=jwks_url, claims=claims
        )

    async def verify(self, authorization: str | None) -> Principal:
        """The principal of an ``Authorization: Bearer ...`` header value."""
        if not authorization:
            raise Unauthenticated("Sign in: send Authorization: Bearer <token>.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_BYTES:
            raise Unauthenticated("The Authorization header must be 'Bearer <token>'.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("The token is not valid.") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALGORITHMS or not (kid is None or isinstance(kid, str)):
            raise Unauthenticated("The token is not valid.")
        # Only keys of the token's own algorithm are tried: another key type given to the
        # library is a programming error there (a TypeError), not a failed signature.
        keys = [key.key for key in self._keys if key.algorithm == algorithm]
        if self._jwks is not None:
            keys += await self._jwks.keys_for(kid, algorithm)
        for key in keys:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[algorithm],
                    audience=self.audience,
                    issuer=self.issuer,
                    leeway=LEEWAY_SECONDS,
                    options={"require": ["exp", "iat", "sub", "iss", "aud"]},
                )
            except jwt.ExpiredSignatureError:
                raise Unauthenticated("The token has expired.") from None
            except jwt.InvalidSignatureError:
                continue
            except (jwt.PyJWTError, ValueError, TypeError):
                raise Unauthenticated("The token is not valid.") from None
            return principal_from_claims(claims, self._claims)
        raise Unauthenticated("The token is not valid.")


# --------------------------------------------------------------------------------------------
# Development and test keys


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
        """The development key pair kept in ``directory``, made on first use (private key mode
        0600), with the marker that makes production services and gateways refuse it."""
        private_path, public_path = directory / "private.pem", directory / "public.pem"
        if not private_path.exists():
            key = cls.generate()
            directory.mkdir(parents=True, exist_ok=True)
            private_path.touch(mode=0o600)
            private_path.write_bytes(key.private_pem)
            public_path.write_bytes(key.public_pem)
        marker = directory / DEVELOPMENT_KEY_MARKER
        if not marker.exists():
            marker.write_text(
                "The key pair in this folder signs development tokens that anyone with this "
                "folder can make.\nProduction services and gateways refuse to trust it.\n"
            )
        return cls(private_pem=private_path.read_bytes(), public_pem=public_path.read_bytes())

    def sign_claims(self, claims: dict[str, Any], *, headers: dict[str, Any] | None = None) -> str:
        """A token with exactly ``claims`` (tests of the claims mapping)."""
        key = serialization.load_pem_private_key(self.private_pem, password=None)
        return jwt.encode(claims, key, algorithm="EdDSA", headers=headers)  # type: ignore[arg-type]

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
        return self.sign_claims(
            {
                "sub": subject,
                "role": str(role),
                "scope": list(scope),
                "iss": issuer,
                "aud": audience,
                "iat": issued,
                "exp": issued + ttl_seconds,
            }
        )
