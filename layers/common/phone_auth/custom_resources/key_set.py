"""``Custom::KeySet``: the JWT key set's SSM SecureString, made by the stack on its first deploy.

Properties: ``ParameterName`` (the template's JwtSecretParameterName) and ``DeleteWithStack``
('true' or 'false', the DeleteKeySetWithStack parameter).

- Create and Update write a new random key set (phone_auth.keys) only when the parameter does not
  exist: one PutParameter with ``Overwrite=False``, which SSM refuses with ParameterAlreadyExists
  when it does. An existing key set (made by ``make secret``, an earlier stack, or rotated since)
  is never read, replaced or rotated here.
- Delete removes the parameter only when DeleteWithStack is 'true'; by default it stays, so
  deleting and recreating a stack signs nobody out.

The physical id is the parameter's name. The key set itself goes only to SSM: never into the
answer's data, the logs, or a failure's reason.
"""

from __future__ import annotations

import contextlib

from phone_auth import aws
from phone_auth.custom_resources.protocol import Outcome, Request
from phone_auth.keys import new_key_set
from phone_auth.observability import logger

DESCRIPTION = "phone-auth JWT signing key set (JSON: version, current kid, keys). Created by the stack."


def apply(request: Request) -> Outcome:
    if request.request_type == "Delete":
        return _delete(request)
    name = request.text("ParameterName")
    request.flag("DeleteWithStack")  # refused now if invalid, not at the stack's deletion
    created = create_if_missing(name)
    logger.info("key set", extra={"parameter": name, "key_set_created": created})
    return Outcome(name, {"ParameterName": name, "Created": "true" if created else "false"})


def create_if_missing(name: str) -> bool:
    """Write a new key set to ``name`` unless the parameter exists; whether it wrote one."""
    ssm = aws.deploy_client("ssm")
    try:
        ssm.put_parameter(
            Name=name,
            Value=new_key_set().to_json(),
            Type="SecureString",
            Description=DESCRIPTION,
            Tier="Standard",
            Overwrite=False,
            Tags=[{"Key": "project", "Value": "phone-auth"}],
        )
    except ssm.exceptions.ParameterAlreadyExists:
        return False
    return True


def _delete(request: Request) -> Outcome:
    physical_id = request.physical_id or ""
    if request.created and request.flag("DeleteWithStack"):
        ssm = aws.deploy_client("ssm")
        with contextlib.suppress(ssm.exceptions.ParameterNotFound):
            ssm.delete_parameter(Name=physical_id)
        logger.info("key set deleted with the stack", extra={"parameter": physical_id})
    return Outcome(physical_id)
