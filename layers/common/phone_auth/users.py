"""The user as the API shows it."""

from __future__ import annotations

from typing import Any

from phone_auth.models import UserView
from phone_auth.settings import get_settings


def user_view(item: dict[str, Any]) -> UserView:
    profile = item.get("profile") or {}
    return UserView(
        id=item["id"],
        phone=item["phone"],
        is_active=bool(item.get("is_active", False)),
        is_verified=bool(item.get("is_verified", False)),
        last_login=item.get("last_login"),
        created_at=item["created_at"],
        updated_at=item.get("updated_at", item["created_at"]),
        market=get_settings().market,
        has_password="password_hash" in item,
        profile={str(k): str(v) for k, v in profile.items()},
    )
