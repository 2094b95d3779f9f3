"""What every successful sign-in returns: a fresh token and the user."""

from __future__ import annotations

from typing import Any

from phone_auth.log import logger
from phone_auth.models import AuthSuccessResponse
from phone_auth.tokens import issue_access_token
from phone_auth.users import user_view


def signed_in(item: dict[str, Any], *, proposed_id: str, method: str) -> AuthSuccessResponse:
    token, lifetime = issue_access_token(item["id"], item["phone"], int(item.get("session_epoch", 0)))
    is_new_user = item.get("first_login_id") == proposed_id
    logger.info("signed in", extra={"user_id": item["id"], "method": method, "is_new_user": is_new_user})
    return AuthSuccessResponse(access_token=token, expires_in=lifetime, user=user_view(item), is_new_user=is_new_user)
