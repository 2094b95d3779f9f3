"""The users table's stream: publish each account's lifecycle changes to EventBridge (not an API route)."""

from typing import Any

from phone_auth.api.endpoint import stream_endpoint
from phone_auth.flows.lifecycle import publish_changes


@stream_endpoint
def lambda_handler(records: list[dict[str, Any]]) -> None:
    publish_changes(records)
