"""The codes table: issue one-time codes, count wrong guesses, and spend a code together with
what it authorises (a sign-in, a registration token, a new password, a new number).

One item per phone and purpose (login, registration, password_reset): a new code replaces
the previous one. A code that belongs to one account as well is kept per account: a
number change's code lives at the new number under ``phone_change#<user id>``, so two
accounts claiming one number each have their own. Only the code's keyed hash is stored. A
code is spent by one conditional write that holds only if its hash is one the presented
code has under a live key and the code is unused, unexpired and has attempts left; when it
authorises a change to the user, both happen in one transaction. A code a trusted device asked
for has an item of its own, ``<purpose>#<device id>`` (its "slot"), spendable only with that
device's credential, so another client can neither replace nor burn it.

A verified registration code leads to a registration token, kept in an item of its own
(purpose ``registration_token``), so a resend of the code never destroys an issued token.
"""

from __future__ import annotations

import contextlib
from enum import StrEnum
from typing import Any

from phone_auth.settings import get_settings
from phone_auth.store import users
from phone_auth.store.calls import Cancelled, ConditionFailed, Operations, batch_get, call, transact
from phone_auth.store.expressions import one_of
from phone_auth.store.limits import Counter, Guards
from phone_auth.store.marshalling import Item, from_item, to_item, to_values
from phone_auth.store.records import (
    DeviceRecord,
    NewCode,
    RegistrationToken,
    SessionRecord,
    SignIn,
    StoredCode,
    StoredUser,
    UserRecord,
)
from phone_auth.store.refusals import (
    CodeRejected,
    DeviceRejected,
    PasswordAlreadySet,
    PhoneTaken,
    RecipientRefused,
    RegistrationTokenRejected,
    ResendTooSoon,
    ReservedForUsers,
    StoreRefusal,
    UserChanged,
    UserDisabled,
    UserMissing,
)

REGISTRATION_TOKEN = "registration_token"  # noqa: S105 (an item's purpose, not a secret)


class Recipient(StrEnum):
    """Who may be sent a code (decided by phone_auth.signup_policy, enforced here)."""

    ANYONE = "anyone"
    EXISTING_USER = "existing_user"
    ANYONE_WITHOUT_PASSWORD = "anyone_without_password"  # noqa: S105 (a rule, not a secret)
    USER_WITHOUT_PASSWORD = "user_without_password"  # noqa: S105
    NO_ACCOUNT = "no_account"


_RECIPIENT_CONDITIONS = {
    Recipient.NO_ACCOUNT: "attribute_not_exists(phone)",
    Recipient.EXISTING_USER: "attribute_exists(phone)",
    Recipient.ANYONE_WITHOUT_PASSWORD: "attribute_not_exists(password_hash)",
    Recipient.USER_WITHOUT_PASSWORD: "attribute_exists(phone) AND attribute_not_exists(password_hash)",
}


def table() -> str:
    return get_settings().codes_table_name


def key(phone: str, purpose: str) -> dict[str, Any]:
    return {"phone": {"S": phone}, "purpose": {"S": purpose}}


def _state(item: Item | None) -> StoredCode | None:
    return None if item is None else StoredCode.from_item(item)


def slot(purpose: str, device_id: str | None) -> str:
    """The item (range key) of a code: the purpose, or ``<purpose>#<device id>`` for a trusted device's."""
    return f"{purpose}#{device_id}" if device_id else purpose


def get_codes_and_user(phone: str, slots: list[str]) -> tuple[dict[str, StoredCode | None], UserRecord | None]:
    """The phone's codes in ``slots`` and its user: one strongly consistent BatchGetItem."""
    codes_table, users_table = table(), users.table()
    request = {
        codes_table: {"Keys": [key(phone, name) for name in slots], "ConsistentRead": True},
        users_table: {"Keys": [users.key(phone)], "ConsistentRead": True},
    }
    found = batch_get(request)
    codes: dict[str, StoredCode | None] = dict.fromkeys(slots)
    for item in found[codes_table]:
        codes[str(item["purpose"])] = _state(item)
    user = next(iter(found[users_table]), None)
    return codes, None if user is None else UserRecord.from_item(user)


def get_code_and_user(phone: str, purpose: str) -> tuple[StoredCode | None, UserRecord | None]:
    """The phone's code for ``purpose`` and its user: one strongly consistent BatchGetItem."""
    codes, user = get_codes_and_user(phone, [purpose])
    return codes[purpose], user


def keys_of_phone(phone: str) -> list[dict[str, Any]]:
    """The key of every item the phone has in the codes table (codes of every purpose, the
    registration token, number changes claiming it): one strongly consistent Query (more
    only past 1 MB, which a phone's few items never reach)."""
    request: dict[str, Any] = {
        "TableName": table(),
        "KeyConditionExpression": "#p = :phone",
        "ProjectionExpression": "#p, #k",
        "ExpressionAttributeNames": {"#p": "phone", "#k": "purpose"},
        "ExpressionAttributeValues": to_values({":phone": phone}),
        "ConsistentRead": True,
    }
    keys: list[dict[str, Any]] = []
    while True:
        response = call("query", **request)
        keys += [{"phone": item["phone"], "purpose": item["purpose"]} for item in response.get("Items", [])]
        if not response.get("LastEvaluatedKey"):
            return keys
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def get_registration_token(phone: str) -> RegistrationToken | None:
    """One strongly consistent read of the phone's registration token."""
    item = from_item(
        call("get_item", TableName=table(), Key=key(phone, REGISTRATION_TOKEN), ConsistentRead=True).get("Item")
    )
    return None if item is None else RegistrationToken.from_item(item)


def _signed_in_user(phone: str) -> UserRecord:
    """The user a sign-in transaction just wrote: one consistent read. UserMissing if it is gone
    already (its owner erased it a moment later)."""
    user = users.get_user(phone)
    if user is None:
        raise UserMissing()
    return user


# ---------------------------------------------------------------- issuing
def _code_put(record: NewCode, *, decoy: bool, resend_cutoff: int) -> dict[str, Any]:
    """The Put of ``record`` (a ``decoy``: without its hash, so no code is ever right)."""
    values: dict[str, Any] = {
        "phone": record.phone,
        "purpose": record.purpose,
        "code_id": record.code_id,
        "sent_at": record.sent_at,
        "expires_at": record.expires_at,
        "attempts": 0,
        "code_hash": None if decoy else record.code_hash,
    }
    return {
        "TableName": table(),
        "Item": to_item(values),
        "ConditionExpression": "attribute_not_exists(phone) OR sent_at <= :cutoff OR attribute_exists(used_at)",
        "ExpressionAttributeValues": to_values({":cutoff": resend_cutoff}),
    }


def _guarded(operations: Operations, guards: Guards, now: int) -> None:
    """Run ``operations`` and the guards' counters and lock checks as one transaction.

    A guard that does not hold raises its LimitRefusal (whatever else failed); otherwise a
    failed condition raises Cancelled for the caller to read by operation name.
    """
    try:
        transact({**operations, **guards.operations(now)})
    except Cancelled as cancelled:
        refusal = guards.refusal(cancelled.failed, now)
        if refusal is not None:
            raise refusal from None
        raise


def _user_check(phone: str, condition: str) -> dict[str, Any]:
    return {"ConditionCheck": {"TableName": users.table(), "Key": users.key(phone), "ConditionExpression": condition}}


def _not_disabled(condition: str | None) -> str:
    """A recipient rule (None: anyone) joined by the back office's: never a user it disabled."""
    return users.NOT_DISABLED if condition is None else f"({condition}) AND {users.NOT_DISABLED}"


def _refused_recipient(failed: dict[str, Item | None]) -> StoreRefusal:
    if "code" in failed:
        return ResendTooSoon(_state(failed["code"]))
    user = failed["user"]
    return RecipientRefused(None if user is None else UserRecord.from_item(user))


def issue_code(
    code: NewCode,
    *,
    recipient: Recipient,
    resend_cutoff: int,
    guards: Guards,
    reserve: Counter | None = None,
    device: users.DeviceCheck | None = None,
) -> None:
    """Store a new code, replacing the phone's previous one for that purpose.

    Preconditions: every guard holds (else LimitRefusal: a lock, or a counter at its limit,
    and nothing is counted); no unused code of that phone and purpose was sent after
    ``resend_cutoff`` (else ResendTooSoon); the phone is a valid ``recipient`` and not a user
    the back office disabled (else RecipientRefused with the user as found). One round trip: a
    transaction of the code's put, the guards and a ConditionCheck on the user.

    ``reserve``: a counter of the guards (the stack's SMS budget) with a higher bound for phones
    that have an account. When that counter alone refused, a second transaction tries again with
    this bound and a ConditionCheck that the phone has an account: past this bound too it raises
    LimitRefusal, whoever the phone is; a phone without an account that the recipient rule would
    have taken raises ReservedForUsers (nothing is written).

    ``device``: a trusted device's credential, checked on the user in the same transaction (with
    the recipient rule and the disabling); when the credential does not hold, DeviceRejected
    (nothing is written). A disabled user whose credential holds, where the recipient rule alone
    would take them, raises RecipientRefused (the caller stores a decoy in the device's item).
    """
    operations: Operations = {"code": {"Put": _code_put(code, decoy=False, resend_cutoff=resend_cutoff)}}
    now = code.sent_at
    rule = _RECIPIENT_CONDITIONS.get(recipient)
    if device is not None:
        operations["user"] = device.condition_check(code.phone, _not_disabled(rule))
        try:
            _guarded(operations, guards, now)
        except Cancelled as cancelled:
            if "user" in cancelled.failed:
                user = cancelled.failed["user"]
                if user is not None and users.is_disabled(user) and device.holds_on(user):
                    found = UserRecord.from_item(user)
                    if accepts(recipient, found):
                        raise RecipientRefused(found) from None
                raise DeviceRejected() from None
            raise _refused_recipient(cancelled.failed) from None
        return
    operations["user"] = _user_check(code.phone, _not_disabled(rule))
    try:
        transact({**operations, **guards.operations(now)})
        return
    except Cancelled as cancelled:
        if reserve is None or not guards.only_counter_failed(reserve.name, cancelled.failed):
            refusal = guards.refusal(cancelled.failed, now)
            raise (refusal or _refused_recipient(cancelled.failed)) from None
    # The unreserved part is spent: only a phone with an account goes on, up to the whole budget.
    condition = "attribute_exists(phone)" if rule is None else f"attribute_exists(phone) AND ({rule})"
    operations["user"] = _user_check(code.phone, _not_disabled(condition))
    reserved = guards.with_counter(reserve)
    try:
        _guarded(operations, reserved, now)
    except Cancelled as cancelled:
        taken_by_anyone = recipient in (Recipient.ANYONE, Recipient.ANYONE_WITHOUT_PASSWORD)
        if "code" not in cancelled.failed and cancelled.failed.get("user") is None and taken_by_anyone:
            raise ReservedForUsers() from None
        raise _refused_recipient(cancelled.failed) from None


def accepts(recipient: Recipient, user: UserRecord | None) -> bool:
    """Whether ``recipient``'s rule alone (the back office's disabling aside) takes ``user``."""
    if recipient is Recipient.NO_ACCOUNT:
        return user is None
    if recipient is Recipient.EXISTING_USER:
        return user is not None
    if recipient is Recipient.ANYONE_WITHOUT_PASSWORD:
        return user is None or not user.has_password
    if recipient is Recipient.USER_WITHOUT_PASSWORD:
        return user is not None and not user.has_password
    return True


def issue_decoy(code: NewCode, *, resend_cutoff: int, guards: Guards) -> None:
    """Store a record with no code at all, under the same resend rule and the same guards
    (one transaction).

    Used where the answer must not tell whether a phone has an account: the phone gets the
    same limits and the same refusals as with a real code, and no SMS.
    """
    put = _code_put(code, decoy=True, resend_cutoff=resend_cutoff)
    try:
        _guarded({"code": {"Put": put}}, guards, code.sent_at)
    except Cancelled as cancelled:
        raise ResendTooSoon(_state(cancelled.failed.get("code"))) from None


def withdraw_code(code: NewCode) -> None:
    """Delete a code whose SMS could not be sent, so the user may ask again at once.

    Precondition: it is still that code (a newer one is left alone). One DeleteItem.
    """
    with contextlib.suppress(ConditionFailed):
        call(
            "delete_item",
            TableName=table(),
            Key=key(code.phone, code.purpose),
            ConditionExpression="code_id = :cid",
            ExpressionAttributeValues=to_values({":cid": code.code_id}),
        )


# ---------------------------------------------------------------- wrong guesses
def count_wrong_guess(
    phone: str, purpose: str, state: StoredCode, *, max_attempts: int, now: int, guards: Guards
) -> int:
    """Count one wrong guess against this very code (``state``, not a newer one) and raise the
    guards' counters; return the code's attempts so far.

    One transaction. Preconditions: the guards hold (else LimitRefusal) and the code is still
    that one, unused, unexpired and below ``max_attempts``, so no guess is ever counted past
    the limit (else CodeRejected with the code's state as it now is).
    """
    attempt = {
        "TableName": table(),
        "Key": key(phone, purpose),
        "UpdateExpression": "ADD attempts :one",
        "ConditionExpression": (
            "code_id = :cid AND attempts < :max AND attribute_not_exists(used_at) AND expires_at > :now"
        ),
        "ExpressionAttributeValues": to_values({":one": 1, ":cid": state.code_id, ":max": max_attempts, ":now": now}),
    }
    try:
        _guarded({"code": {"Update": attempt}}, guards, now)
    except Cancelled as cancelled:
        raise CodeRejected(_state(cancelled.failed.get("code"))) from None
    return state.attempts + 1


# ---------------------------------------------------------------- spending
def _spend(
    phone: str,
    purpose: str,
    *,
    code_hashes: list[str],
    now: int,
    max_attempts: int,
    also_set: dict[str, Any] | None = None,
) -> dict[str, Any]:
    sets = ["used_at = :now"]
    values: dict[str, Any] = {":now": now, ":max": max_attempts}
    matches = one_of("code_hash", "h", code_hashes, values)
    for index, (name, value) in enumerate((also_set or {}).items()):
        sets.append(f"{name} = :s{index}")
        values[f":s{index}"] = value
    return {
        "TableName": table(),
        "Key": key(phone, purpose),
        "UpdateExpression": "SET " + ", ".join(sets),
        "ConditionExpression": (
            f"{matches} AND attribute_not_exists(used_at) AND expires_at > :now AND attempts < :max"
        ),
        "ExpressionAttributeValues": to_values(values),
    }


def spend_code_and_sign_in(
    phone: str,
    *,
    code_hashes: list[str],
    now: int,
    now_iso: str,
    max_attempts: int,
    create_user: bool,
    session: SessionRecord,
    guards: Guards,
    device: users.DeviceUse,
    code_slot: str = "login",
) -> SignIn:
    """Spend a login code (the item ``code_slot``), record the sign-in (creating the user if
    ``create_user``) with its ``device`` credential and start ``session``.

    Two round trips: one transaction (spend the code + the sign-in write + the guards) and
    one consistent read of the user. Raises LimitRefusal, DeviceRejected (a presented
    credential that does not hold), CodeRejected, UserMissing when the user must exist and
    does not, or UserDisabled (the code was right, and the credential held: nothing written).
    """
    sign_in = users.SignInWrite(
        phone, now_iso=now_iso, create_user=create_user, verified=True, session=session, device=device
    )
    spend = _spend(phone, code_slot, code_hashes=code_hashes, now=now, max_attempts=max_attempts)
    try:
        _guarded({"code": {"Update": spend}, "user": {"Update": sign_in.update()}}, guards, now)
    except Cancelled as cancelled:
        user = cancelled.failed.get("user")
        disabled = users.is_disabled(user) and (device.check is None or device.check.holds_on(user))
        if device.check is not None and "user" in cancelled.failed and not disabled:
            raise DeviceRejected() from None
        if "code" in cancelled.failed:
            raise CodeRejected(_state(cancelled.failed["code"])) from None
        if disabled:
            raise UserDisabled() from None
        raise UserMissing() from None
    return sign_in.result(_signed_in_user(phone))


def spend_code_and_issue_registration_token(
    phone: str,
    *,
    code_hashes: list[str],
    now: int,
    max_attempts: int,
    token_hash: str,
    token_expires_at: int,
    guards: Guards,
    device: users.DeviceCheck | None = None,
    code_slot: str = "registration",
) -> None:
    """Spend a registration code (the item ``code_slot``) and store the hash of the single-use
    registration token that complete-registration must present, replacing an earlier token of
    the phone.

    One transaction (the code's conditional update + the token's put + the guards, and a
    trusted ``device``'s check on the user). Raises LimitRefusal, DeviceRejected or CodeRejected.
    """
    spend = _spend(phone, code_slot, code_hashes=code_hashes, now=now, max_attempts=max_attempts)
    token = {
        "TableName": table(),
        "Item": to_item(
            {
                "phone": phone,
                "purpose": REGISTRATION_TOKEN,
                "token_hash": token_hash,
                "expires_at": token_expires_at,
                "issued_at": now,
            }
        ),
    }
    operations: Operations = {"code": {"Update": spend}, "token": {"Put": token}}
    if device is not None:
        operations["user"] = device.condition_check(phone)
    try:
        _guarded(operations, guards, now)
    except Cancelled as cancelled:
        if "user" in cancelled.failed:
            raise DeviceRejected() from None
        raise CodeRejected(_state(cancelled.failed.get("code"))) from None


def set_first_password(
    phone: str,
    *,
    token_hashes: list[str],
    password_hash: str,
    now: int,
    now_iso: str,
    create_user: bool,
    session: SessionRecord,
    device: users.DeviceUse | None = None,
) -> SignIn:
    """Spend the registration token, set the user's first password, sign them in (storing its
    new ``device`` credential) and start ``session``.

    Two round trips: one transaction (spend the token + the sign-in write that sets the
    password only while the user has none) and one consistent read. The token is bound to
    the phone by its key and is single use by its condition. Raises
    RegistrationTokenRejected, UserMissing, UserDisabled or PasswordAlreadySet.
    """
    values: dict[str, Any] = {":now": now}
    matches = one_of("token_hash", "h", token_hashes, values)
    spend_token = {
        "TableName": table(),
        "Key": key(phone, REGISTRATION_TOKEN),
        "UpdateExpression": "SET used_at = :now",
        "ConditionExpression": f"{matches} AND expires_at > :now AND attribute_not_exists(used_at)",
        "ExpressionAttributeValues": to_values(values),
    }
    sign_in = users.SignInWrite(
        phone,
        now_iso=now_iso,
        create_user=create_user,
        verified=True,
        session=session,
        also_set={"password_hash": password_hash, "password_changed_at": now_iso},
        conditions=["attribute_not_exists(password_hash)"],
        device=device,
    )
    try:
        transact({"token": {"Update": spend_token}, "user": {"Update": sign_in.update()}})
    except Cancelled as cancelled:
        if "token" in cancelled.failed:
            raise RegistrationTokenRejected() from None
        if cancelled.failed["user"] is None:
            raise UserMissing() from None
        if users.is_disabled(cancelled.failed["user"]):
            raise UserDisabled() from None
        raise PasswordAlreadySet() from None
    return sign_in.result(_signed_in_user(phone))


def spend_code_and_replace_password(
    user: UserRecord,
    *,
    code_hashes: list[str],
    now: int,
    now_iso: str,
    max_attempts: int,
    password_hash: str,
    guards: Guards,
    code_slot: str = "password_reset",
) -> None:
    """Spend a password-reset code (the item ``code_slot``, whose device the caller checked in
    ``user`` as read), set the new password and end every session of ``user``
    (as read just before: each of its sessions is removed and the epoch bumped).

    One transaction (with the guards). Raises LimitRefusal, CodeRejected, UserMissing when
    the account is gone, UserDisabled, or UserChanged when the user signed in since it was
    read (read again and retry).
    """
    spend = _spend(user.phone, code_slot, code_hashes=code_hashes, now=now, max_attempts=max_attempts)
    replace = users.password_replacement(user, password_hash=password_hash, now_iso=now_iso)
    try:
        _guarded({"code": {"Update": spend}, "user": {"Update": replace}}, guards, now)
    except Cancelled as cancelled:
        if "code" in cancelled.failed:
            raise CodeRejected(_state(cancelled.failed["code"])) from None
        if cancelled.failed["user"] is None:
            raise UserMissing() from None
        if users.is_disabled(cancelled.failed["user"]):
            raise UserDisabled() from None
        raise UserChanged() from None


def spend_code_and_move_user(
    stored: StoredUser,
    new_phone: str,
    *,
    purpose: str,
    code_hashes: list[str],
    now: int,
    now_iso: str,
    max_attempts: int,
    session: SessionRecord,
    guards: Guards,
    device: DeviceRecord | None = None,
) -> UserRecord:
    """Spend a number change's code (``purpose``: its item at ``new_phone``) and move the user
    ``stored`` to ``new_phone`` with ``session`` as its only session (users.user_move: every
    attribute kept, the old item deleted, the session epoch moved on). Returns the user as moved.

    One transaction (the code's spend, the Put of the new item, the Delete of the old one, the
    guards). Raises LimitRefusal, CodeRejected, PhoneTaken when ``new_phone`` has a user (or
    another account took it first), UserMissing when the user is gone, or UserChanged when it
    signed in, logged out or reset its password since it was read (read again and retry).
    """
    spend = _spend(new_phone, purpose, code_hashes=code_hashes, now=now, max_attempts=max_attempts)
    put, delete, moved = users.user_move(stored, new_phone, session=session, now_iso=now_iso, device=device)
    try:
        _guarded({"code": {"Update": spend}, "new": {"Put": put}, "old": {"Delete": delete}}, guards, now)
    except Cancelled as cancelled:
        if "code" in cancelled.failed:
            raise CodeRejected(_state(cancelled.failed["code"])) from None
        if "old" in cancelled.failed:
            old = cancelled.failed["old"]
            if old is None:
                raise UserMissing() from None
            raise (UserDisabled() if users.is_disabled(old) else UserChanged()) from None
        raise PhoneTaken() from None
    return moved
