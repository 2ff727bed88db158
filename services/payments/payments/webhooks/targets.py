"""Where a webhook may go, and sending it there without being turned against our own network.

A URL is checked when it is subscribed (a clear BAD_USER_INPUT on ``url``) and again at every
attempt: its host is resolved, every address it resolves to must be public, and the request
connects to the address that was checked (the URL's host still goes in the Host header and
the TLS server name, whose certificate is verified), so a name that resolves to a public
address at the check and to 10.0.0.1 a moment later (DNS rebinding) cannot reach 10.0.0.1.
Redirects are not followed (a 3xx is a failed attempt), and no more than a kilobyte of a
response is read.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import httpx
from pcse_kit.errors import BadUserInput

from payments.webhooks import rules

if TYPE_CHECKING:
    from collections.abc import Mapping

MAX_URL_LENGTH: Final = 2000
RESPONSE_BYTES_READ: Final = 1024
RESOLVE_TIMEOUT_SECONDS: Final = 5.0
TIMEOUT: Final = httpx.Timeout(connect=5.0, read=10.0, write=10.0, pool=5.0)
"""Short: a receiver should answer at once and do its work afterwards."""


class Refused(Exception):
    """The URL, or what its host resolves to now, may not be called."""


@dataclass(frozen=True)
class Target:
    url: httpx.URL
    host: str
    port: int


def parse(url: str, *, allow_private: bool) -> Target:
    """A URL a subscriber may name: https (http too where private targets are allowed, for
    development), a host, no user name or password. Raises :class:`Refused`."""
    if len(url) > MAX_URL_LENGTH:
        raise Refused(f"a URL of at most {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise Refused("not a URL") from None
    schemes = {"https", "http"} if allow_private else {"https"}
    if parsed.scheme not in schemes:
        raise Refused("an https:// URL")
    if parsed.userinfo:
        raise Refused("a URL without a user name or password in it")
    if not parsed.host:
        raise Refused("a URL with a host")
    if parsed.fragment:
        raise Refused("a URL without a #fragment")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return Target(url=parsed, host=parsed.host, port=port)


def checked(url: str, *, allow_private: bool) -> Target:
    """:func:`parse`, as a BAD_USER_INPUT on ``url``."""
    try:
        return parse(url, allow_private=allow_private)
    except Refused as error:
        raise BadUserInput(f"`url` must be {error}.", field="url") from None


async def resolve(target: Target, *, allow_private: bool) -> rules.IPAddress:
    """The address to connect to: every address the host resolves to now must be allowed
    (a name with one private address among public ones is refused), and the first is used."""
    try:
        literal: rules.IPAddress | None = ipaddress.ip_address(target.host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            found = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(
                    target.host, target.port, type=socket.SOCK_STREAM
                ),
                RESOLVE_TIMEOUT_SECONDS,
            )
        except TimeoutError:
            raise Refused(
                f"{target.host} did not resolve within {RESOLVE_TIMEOUT_SECONDS} s"
            ) from None
        except (socket.gaierror, UnicodeError) as error:
            raise Refused(f"{target.host} does not resolve ({error})") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in found]
        if not addresses:
            raise Refused(f"{target.host} does not resolve")
    if not allow_private:
        for address in addresses:
            reason = rules.refusal(address)
            if reason is not None:
                raise Refused(f"{target.host} resolves to an address not allowed: {reason}")
    return addresses[0]


@dataclass(frozen=True)
class Outcome:
    status: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300  # noqa: PLR2004 - HTTP 2xx


async def send(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: Mapping[str, str],
    body: str,
    allow_private: bool,
) -> Outcome:
    """POST ``body`` to ``url`` at the address checked now; never raises for the receiver's
    sake (a refusal, a timeout, a reset are all an unsuccessful :class:`Outcome`)."""
    try:
        target = parse(url, allow_private=allow_private)
        address = await resolve(target, allow_private=allow_private)
    except Refused as error:
        return Outcome(status=None, error=f"refused: {error}")
    name = f"[{target.host}]" if ":" in target.host else target.host
    host_header = name if target.url.port is None else f"{name}:{target.port}"
    request = client.build_request(
        "POST",
        target.url.copy_with(host=str(address), port=target.port),
        content=body.encode(),
        headers={**headers, "host": host_header, "user-agent": "pcse-status-webhooks"},
        extensions={"sni_hostname": target.host} if target.url.scheme == "https" else {},
    )
    try:
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            read = 0
            # Read a little, so the connection can be reused for a short answer; a long one
            # is cut off rather than read.
            if not response.is_stream_consumed:
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read >= RESPONSE_BYTES_READ:
                        break
        finally:
            await response.aclose()
    except httpx.TimeoutException:
        return Outcome(status=None, error="timed out")
    except httpx.HTTPError as error:
        return Outcome(status=None, error=f"{type(error).__name__}: {error}"[:500])
    if 300 <= response.status_code < 400:  # noqa: PLR2004 - HTTP 3xx
        return Outcome(status=response.status_code, error="redirects are not followed")
    if not 200 <= response.status_code < 300:  # noqa: PLR2004 - HTTP 2xx
        return Outcome(status=response.status_code, error=f"HTTP {response.status_code}")
    return Outcome(status=response.status_code, error=None)
