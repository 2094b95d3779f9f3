"""Who is calling: small typed values the API boundary hands to the flows.

- ``ClientInfo``: the client as API Gateway saw it (source IP, user agent), on every request,
  and the keys every per-client limit counts it under (``address_key``, ``network_key``).
- ``client_address``: the client's address: API Gateway's ``sourceIp``, or with
  ``TRUSTED_PROXY=cloudfront`` the viewer's address CloudFront reports, but only on a request that
  proves it came through CloudFront (``ORIGIN_VERIFY_HEADER``). No other client-sent header counts.
- ``Caller``: the signed-in user the authorizer vouched for, on the protected routes. Read from
  the authorizer's context by ``Caller.from_authorizer``, which refuses anything incomplete: a
  call that did not pass through the authorizer (a misconfigured route) is refused, not trusted.
- ``Operator``: the back office's IAM principal on the admin API, whose every method is
  ``AWS_IAM``: API Gateway checked its SigV4 signature and put who signed in
  ``requestContext.identity``. ``Operator.from_identity`` refuses a call without one.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from phone_auth.errors import OperatorUnknown, TokenMissing
from phone_auth.settings import get_settings

if TYPE_CHECKING:
    from phone_auth.keys import KeyRing

#: The custom origin header CloudFront adds (docs/deploy.md): its value proves that a request came
#: through our distribution, so its CloudFront-Viewer-Address may be believed.
ORIGIN_VERIFY_HEADER = "X-Phone-Auth-Origin-Verify"
VIEWER_ADDRESS_HEADER = "CloudFront-Viewer-Address"
#: The keyed-hash domain of the origin header's value (derived from the key set: never rename it).
_ORIGIN_VERIFY_DOMAIN = "cloudfront-origin"


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP address (an IPv4 address seen over IPv6, ``::ffff:a.b.c.d``, as IPv4), else None."""
    try:
        address = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_key(text: str | None, *, ipv4_prefix: int, ipv6_prefix: int = 64) -> str:
    """The network ``text`` belongs to, as a counter's subject: ``203.0.113.7`` (a /32),
    ``203.0.113.0/24``, ``2001:db8:1:2::/64``; ``unknown`` when it is no address.

    IPv6 is keyed by its /64 at least: one host (one phone, one VM) is given a whole /64 and can
    send from any of its 2^64 addresses, so a budget per address would be no budget at all.
    """
    address = _address(text)
    if address is None:
        return "unknown"
    prefix = ipv4_prefix if address.version == 4 else ipv6_prefix
    if prefix == address.max_prefixlen:
        return str(address)
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@dataclass(frozen=True)
class ClientInfo:
    """Who is calling: the client's address (``client_address``: never a client-sent header unless
    a trusted proxy vouches for it) and the user agent. Shown to the user in their session list;
    the address is masked there."""

    source_ip: str | None
    user_agent: str

    @property
    def address_key(self) -> str:
        """What every per-client counter counts this client under: its IPv4 address, or its IPv6 /64."""
        return client_key(self.source_ip, ipv4_prefix=32)

    @property
    def network_key(self) -> str:
        """Its network, for failures counted per phone and network: IPv4 /24, IPv6 /64."""
        return client_key(self.source_ip, ipv4_prefix=24)


def parse_viewer_address(value: str) -> str | None:
    """The address in a ``CloudFront-Viewer-Address`` value: ``a.b.c.d:port`` or ``x:...:y:port``
    (IPv6 without brackets; brackets are read too). None for anything else."""
    host, _, port = value.strip().rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        return None
    address = _address(host.removeprefix("[").removesuffix("]"))
    return None if address is None else str(address)


def origin_verify_values(ring: KeyRing | None = None, market: str | None = None) -> list[str]:
    """The values of ORIGIN_VERIFY_HEADER a stack accepts, the current key's first: one per live
    key of its key set (``ring``, this stack's by default), so CloudFront's header can be updated
    after a rotation, before the old key is retired. ``make origin-header`` prints the first."""
    if ring is None:
        from phone_auth.keys import key_ring

        ring = key_ring()
    return ring.hashes(_ORIGIN_VERIFY_DOMAIN, market or get_settings().market)


def origin_verify_value() -> str:
    """The value CloudFront's custom origin header should carry now (the current key's)."""
    return origin_verify_values()[0]


def client_address(source_ip: str | None, headers: Mapping[str, str]) -> str | None:
    """The client's address: API Gateway's ``sourceIp``; with TRUSTED_PROXY=cloudfront, the viewer
    address of a request whose origin header proves it came through CloudFront (``headers`` are
    the request's, names in lower case). A request that proves nothing keeps ``sourceIp``: anyone
    can call the stage directly and send any header."""
    if get_settings().trusted_proxy != "cloudfront":
        return source_ip
    viewer, proof = headers.get(VIEWER_ADDRESS_HEADER.lower()), headers.get(ORIGIN_VERIFY_HEADER.lower())
    if not viewer or not proof:
        return source_ip
    if not any(hmac.compare_digest(proof.encode(), value.encode()) for value in origin_verify_values()):
        return source_ip
    return parse_viewer_address(viewer) or source_ip


@dataclass(frozen=True)
class Caller:
    """The signed-in caller: what the authorizer read from a valid access token of a live session."""

    phone: str
    user_id: str
    session_epoch: int
    session_id: str
    token_id: str
    #: When the calling session signed in (epoch seconds; a refresh keeps it). 0: not known, which
    #: counts as long ago (an authorizer answer cached from before the claim existed).
    auth_time: int = 0

    @classmethod
    def from_authorizer(cls, context: Mapping[str, Any]) -> Caller:
        """The caller in API Gateway's ``requestContext.authorizer`` (every value a string);
        TokenMissing when any part is missing, empty or malformed (``auth_time`` may be absent)."""
        texts = {name: context.get(name) for name in ("phone", "user_id", "session_id", "token_id")}
        if not all(isinstance(value, str) and value for value in texts.values()):
            raise TokenMissing()
        return cls(
            phone=str(texts["phone"]),
            user_id=str(texts["user_id"]),
            session_epoch=_whole_number(context.get("session_epoch")),
            session_id=str(texts["session_id"]),
            token_id=str(texts["token_id"]),
            auth_time=_whole_number(context.get("auth_time", 0)),
        )

    def signed_in_within(self, seconds: int, now: float) -> bool:
        """Whether the calling session signed in (by code, password or registration) at most
        ``seconds`` before ``now``: a refresh does not count as signing in."""
        return self.auth_time > 0 and now - self.auth_time <= seconds


def _whole_number(value: Any) -> int:
    """An authorizer context number (API Gateway passes it as a string); TokenMissing otherwise."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise TokenMissing()
    try:
        return int(value)
    except ValueError:
        raise TokenMissing() from None


@dataclass(frozen=True)
class Operator:
    """Who signed an admin API call: the IAM principal's ARN (``userArn``: a user, or an
    assumed role's session), its principal id (``caller``) and its account."""

    principal_arn: str
    caller: str
    account_id: str

    @classmethod
    def from_identity(cls, identity: Mapping[str, Any]) -> Operator:
        """The operator in API Gateway's ``requestContext.identity``; OperatorUnknown without a
        principal ARN (a route that is not AWS_IAM would arrive so)."""
        arn = identity.get("userArn")
        if not isinstance(arn, str) or not arn.startswith("arn:"):
            raise OperatorUnknown()
        return cls(
            principal_arn=arn,
            caller=str(identity.get("caller") or ""),
            account_id=str(identity.get("accountId") or ""),
        )
