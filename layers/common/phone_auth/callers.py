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

    @classmethod
    def from_authorizer(cls, context: Mapping[str, Any]) -> Caller:
        """The caller in API Gateway's ``requestContext.authorizer`` (every value a string);
        TokenMissing when any part is missing, empty or malformed."""
        texts = {name: context.get(name) for name in ("phone", "user_id", "session_id", "token_id")}
        epoch = context.get("session_epoch")
        if not all(isinstance(value, str) and value for value in texts.values()):
            raise TokenMissing()
        if not isinstance(epoch, str | int) or isinstance(epoch, bool):
            raise TokenMissing()
        try:
            session_epoch = int(epoch)
        except ValueError:
            raise TokenMissing() from None
        return cls(
            phone=str(texts["phone"]),
            user_id=str(texts["user_id"]),
            session_epoch=session_epoch,
            session_id=str(texts["session_id"]),
            token_id=str(texts["token_id"]),
        )
