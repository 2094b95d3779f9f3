"""The back office's writes of a user from its own data (a row that ``phone_auth.user_import``
checked and planned): ``create_request`` and ``update_request`` are the requests, which the
importer (``ops.import_users``) sends on the operator's client and ``create_user`` and
``update_user`` here on the Lambda's, with its error mapping.

Both are conditional: a create holds only while the phone is free, an update only while the
user exists and (for a first password) still has none, so a race makes the caller read again
and plan once more rather than overwrite (UserChanged).
"""

from __future__ import annotations

from typing import Any

from phone_auth.store import users
from phone_auth.store.calls import ConditionFailed, call
from phone_auth.store.marshalling import Item, from_item, to_item, to_values
from phone_auth.store.records import UserRecord
from phone_auth.store.refusals import UserChanged


def create_request(table_name: str, user: UserRecord) -> dict[str, Any]:
    """The PutItem of a new user: it holds only while the phone is still free (someone who
    signed up or was imported meanwhile makes it fail: read again and plan again)."""
    return {
        "TableName": table_name,
        "Item": to_item(user.to_item()),
        "ConditionExpression": "attribute_not_exists(phone)",
    }


def update_request(
    table_name: str,
    phone: str,
    *,
    now_iso: str,
    profile_fields: dict[str, str] | None = None,
    profile_exists: bool = True,
    password_hash: str | None = None,
) -> dict[str, Any]:
    """The UpdateItem of an existing user from the back office, conditional:

    - the user must still exist (an update never creates a half user);
    - ``password_hash`` is set only if the user still has none (a user who registers while
      the import runs keeps the password they chose);
    - ``profile_fields`` are set one by one inside the existing profile map (concurrent
      imports never drop each other's fields) or, if the caller saw no profile, as a new map
      only if there still is none.
    A failed condition tells the caller to re-read the user and plan the row again.
    """
    names: dict[str, str] = {}
    values: dict[str, Any] = {":now": now_iso}
    sets = ["updated_at = :now"]
    conditions = ["attribute_exists(phone)"]
    fields = profile_fields or {}
    if fields and profile_exists:
        for index, (name, value) in enumerate(fields.items()):
            names[f"#p{index}"] = name
            values[f":p{index}"] = value
            sets.append(f"profile.#p{index} = :p{index}")
        conditions.append("attribute_type(profile, :map)")
        values[":map"] = "M"
    elif fields:
        values[":profile"] = dict(fields)
        sets.append("profile = :profile")
        conditions.append("attribute_not_exists(profile)")
    if password_hash is not None:
        values[":hash"] = password_hash
        sets.append("password_hash = :hash")
        conditions.append("attribute_not_exists(password_hash)")
    if len(sets) == 1:
        raise ValueError("nothing to update")
    update: dict[str, Any] = {
        "TableName": table_name,
        "Key": {"phone": {"S": phone}},
        "UpdateExpression": "SET " + ", ".join(sets),
        "ConditionExpression": " AND ".join(conditions),
        "ExpressionAttributeValues": to_values(values),
    }
    if names:
        update["ExpressionAttributeNames"] = names
    return update


def get_item(phone: str) -> Item | None:
    """The user's item as stored (what ``user_import.plan`` compares a row with): one
    strongly consistent GetItem."""
    return from_item(call("get_item", TableName=users.table(), Key=users.key(phone), ConsistentRead=True).get("Item"))


def create_user(user: UserRecord) -> UserRecord:
    """Put a new user: one conditional PutItem (UserChanged: the phone got a user meanwhile)."""
    try:
        call("put_item", **create_request(users.table(), user))
    except ConditionFailed:
        raise UserChanged() from None
    return user


def update_user(
    phone: str,
    *,
    now_iso: str,
    profile_fields: dict[str, str],
    profile_exists: bool,
    password_hash: str | None,
) -> UserRecord:
    """Update an existing user as ``user_import.update_request`` says: one conditional
    UpdateItem returning the user as now stored (UserChanged: read again and plan again)."""
    update: dict[str, Any] = update_request(
        users.table(),
        phone,
        now_iso=now_iso,
        profile_fields=profile_fields,
        profile_exists=profile_exists,
        password_hash=password_hash,
    )
    try:
        response = call("update_item", **update, ReturnValues="ALL_NEW")
    except ConditionFailed:
        raise UserChanged() from None
    return UserRecord.from_item(from_item(response["Attributes"]) or {})
