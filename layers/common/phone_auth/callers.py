"""Who is calling: small typed values the API boundary hands to the flows.

- ``ClientInfo``: the client as API Gateway saw it (source IP, user agent), on every request.
- ``Caller``: the signed-in user the authorizer vouched for, on the protected routes. Read from
  the authorizer's context by ``Caller.from_authorizer``, which refuses anything incomplete: a
  call that did not pass through the authorizer (a misconfigured route) is refused, not trusted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from phone_auth.errors import TokenMissing


@dataclass(frozen=True)
class ClientInfo:
    """Who is calling, as API Gateway saw it: the source IP (never a client-sent header) and
    the user agent. Shown to the user in their session list; the IP is masked there."""

    source_ip: str | None
    user_agent: str


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
