"""SigV4 for the local stack's AWS_IAM API (the back office's admin API), checked as API Gateway does.

The local stack knows one IAM principal, with documented credentials (``LOCAL_CREDENTIALS``,
also in ``GET /_local/info`` as ``admin_credentials``): sign with them (service
``execute-api``, the stack's region) through botocore's ``SigV4Auth``, as a deployed back
office signs with its role's. ``verify`` recomputes the signature with botocore's own canonical
request over what the client signed (its raw path and query, the headers it names, the body)
and answers like API Gateway:

- no ``Authorization: AWS4-HMAC-SHA256 ...`` header: MISSING_AUTHENTICATION_TOKEN (403);
- another access key, another region or service, an ``X-Amz-Date`` more than 5 minutes off,
  ``host`` or ``x-amz-date`` unsigned, or a signature that differs: INVALID_SIGNATURE (403).

A verified call reaches the function with the principal in ``requestContext.identity``
(``userArn``, ``caller``, ``user``, ``accountId``, ``accessKey``), where the deployed API puts it.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from devtools.local_stack.template import ACCOUNT_ID

__all__ = ["LOCAL_CREDENTIALS", "SERVICE", "SignatureRefused", "Signer", "verify"]

SERVICE = "execute-api"
#: The local back office's credentials (local only: no AWS account knows them).
LOCAL_CREDENTIALS = {
    "access_key_id": "AKIALOCALBACKOFFICE1",
    "secret_access_key": "local-back-office-secret-for-the-local-stack-only",
}
#: Who they are: a user of the local stack's (moto's) account.
LOCAL_PRINCIPAL_ARN = f"arn:aws:iam::{ACCOUNT_ID}:user/back-office"
LOCAL_PRINCIPAL_ID = "AIDALOCALBACKOFFICE1"
MAX_CLOCK_SKEW_SECONDS = 300
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<signature>[0-9a-f]{64})"
)


class SignatureRefused(Exception):
    """The call is refused before any function runs; the argument is the gateway response type."""


@dataclass(frozen=True)
class Signer:
    """Who signed a verified call: what API Gateway puts in ``requestContext.identity``."""

    access_key: str
    principal_arn: str = LOCAL_PRINCIPAL_ARN
    principal_id: str = LOCAL_PRINCIPAL_ID
    account_id: str = ACCOUNT_ID

    def identity(self) -> dict[str, str]:
        return {
            "accessKey": self.access_key,
            "accountId": self.account_id,
            "caller": self.principal_id,
            "user": self.principal_id,
            "userArn": self.principal_arn,
        }


def verify(
    *,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    region: str,
    now: datetime | None = None,
) -> Signer:
    """The signer of a request to ``url`` (its raw path and query as sent), or SignatureRefused."""
    values = {name.lower(): value for name, value in headers}
    match = _AUTHORIZATION.fullmatch((values.get("authorization") or "").strip())
    if not (values.get("authorization") or "").startswith("AWS4-HMAC-SHA256"):
        raise SignatureRefused("MISSING_AUTHENTICATION_TOKEN")
    if match is None:
        raise SignatureRefused("INVALID_SIGNATURE")
    key_id, date, signed_region, service, terminator = (match["credential"].split("/") + [""] * 5)[:5]
    signed = match["signed"].split(";")
    stamp = values.get("x-amz-date", "")
    if (
        key_id != LOCAL_CREDENTIALS["access_key_id"]
        or (signed_region, service, terminator) != (region, SERVICE, "aws4_request")
        or not {"host", "x-amz-date"} <= set(signed)
        or not stamp.startswith(date)
        or not _recent(stamp, now or datetime.now(UTC))
    ):
        raise SignatureRefused("INVALID_SIGNATURE")
    request = AWSRequest(method=method, url=url, data=body, headers={name: values.get(name, "") for name in signed})
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(key_id, LOCAL_CREDENTIALS["secret_access_key"]), SERVICE, region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, match["signature"]):
        raise SignatureRefused("INVALID_SIGNATURE")
    return Signer(access_key=key_id)


def _recent(stamp: str, now: datetime) -> bool:
    try:
        when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return False
    return abs((now - when).total_seconds()) <= MAX_CLOCK_SKEW_SECONDS
