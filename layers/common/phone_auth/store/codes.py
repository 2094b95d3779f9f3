"""The codes table: issue one-time codes, count wrong guesses, and spend a code together with
what it authorises (a sign-in, a registration token, a new password).

One item per phone and purpose (login, registration, password_reset): a new code replaces
the previous one. Only the code's keyed hash is stored. A code is spent by one conditional
write that holds only if the hash matches and the code is unused, unexpired and has
attempts left; when it authorises a change to the user, both happen in one transaction.
"""

from __future__ import annotations

import contextlib
from enum import StrEnum
from typing import Any

from phone_auth.settings import get_settings
from phone_auth.store import users
from phone_auth.store.calls import Cancelled, ConditionFailed, call, transact
from phone_auth.store.marshalling import Item, from_item, to_item, to_values
from phone_auth.store.records import NewCode, SignIn, StoredCode, UserRecord
from phone_auth.store.refusals import (
    CodeRejected,
    PasswordAlreadySet,
    RecipientRefused,
    RegistrationTokenRejected,
    ResendTooSoon,
    UserMissing,
)


class Recipient(StrEnum):
    """Who may be sent a code (decided by phone_auth.signup_policy, enforced here)."""

    ANYONE = "anyone"
    EXISTING_USER = "existing_user"
    ANYONE_WITHOUT_PASSWORD = "anyone_without_password"  # noqa: S105 (a rule, not a secret)
    USER_WITHOUT_PASSWORD = "user_without_password"  # noqa: S105


_RECIPIENT_CONDITIONS = {
    Recipient.EXISTING_USER: "attribute_exists(phone)",
    Recipient.ANYONE_WITHOUT_PASSWORD: "attribute_not_exists(password_hash)",
    Recipient.USER_WITHOUT_PASSWORD: "attribute_exists(phone) AND attribute_not_exists(password_hash)",
}


def table() -> str:
    return get_settings().otp_table_name


def key(phone: str, purpose: str) -> dict[str, Any]:
    return {"phone": {"S": phone}, "purpose": {"S": purpose}}


def _state(item: Item | None) -> StoredCode | None:
    return None if item is None else StoredCode.from_item(item)


# ---------------------------------------------------------------- issuing
def _code_put(code: NewCode | None, *, decoy_of: NewCode | None = None, resend_cutoff: int) -> dict[str, Any]:
    record = code or decoy_of
    assert record is not None
    values: dict[str, Any] = {
        "phone": record.phone,
        "purpose": record.purpose,
        "code_id": record.code_id,
        "sent_at": record.sent_at,
        "expires_at": record.expires_at,
        "attempts": 0,
        "code_hash": code.code_hash if code else None,
    }
    return {
        "TableName": table(),
        "Item": to_item(values),
        "ConditionExpression": "attribute_not_exists(phone) OR sent_at <= :cutoff OR attribute_exists(used_at)",
        "ExpressionAttributeValues": to_values({":cutoff": resend_cutoff}),
    }


def issue_code(code: NewCode, *, recipient: Recipient, resend_cutoff: int) -> None:
    """Store a new code, replacing the phone's previous one for that purpose.

    Preconditions: no unused code of that phone and purpose was sent after
    ``resend_cutoff`` (else ResendTooSoon), and the phone is a valid ``recipient`` (else
    RecipientRefused with the user as found). One round trip: a PutItem, or a transaction
    with a ConditionCheck on the user when the recipient rule needs one.
    """
    put = _code_put(code, resend_cutoff=resend_cutoff)
    if recipient is Recipient.ANYONE:
        try:
            call("put_item", **put, ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ConditionFailed as failed:
            raise ResendTooSoon(_state(failed.item)) from None
        return
    user_check = {
        "TableName": users.table(),
        "Key": users.key(code.phone),
        "ConditionExpression": _RECIPIENT_CONDITIONS[recipient],
    }
    try:
        transact({"code": {"Put": put}, "user": {"ConditionCheck": user_check}})
    except Cancelled as cancelled:
        if "code" in cancelled.failed:
            raise ResendTooSoon(_state(cancelled.failed["code"])) from None
        user = cancelled.failed["user"]
        raise RecipientRefused(None if user is None else UserRecord.from_item(user)) from None


def issue_decoy(code: NewCode, *, resend_cutoff: int) -> None:
    """Store a record with no code at all, under the same resend rule (one PutItem).

    Used where the answer must not tell whether a phone has an account: the phone gets
    the same resend limit and the same refusals as a real code, and no SMS.
    """
    put = _code_put(None, decoy_of=code, resend_cutoff=resend_cutoff)
    try:
        call("put_item", **put, ReturnValuesOnConditionCheckFailure="ALL_OLD")
    except ConditionFailed as failed:
        raise ResendTooSoon(_state(failed.item)) from None


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
def count_wrong_guess(phone: str, purpose: str, *, code_id: str, max_attempts: int, now: int) -> int:
    """Count one wrong guess against this very code (not a newer one); return attempts so far.

    One conditional UpdateItem. Precondition: the code is still that one, unused,
    unexpired and below ``max_attempts``, so no guess is ever counted past the limit;
    otherwise CodeRejected with the code's state as it now is.
    """
    try:
        response = call(
            "update_item",
            TableName=table(),
            Key=key(phone, purpose),
            UpdateExpression="ADD attempts :one",
            ConditionExpression=(
                "code_id = :cid AND attempts < :max AND attribute_not_exists(used_at) AND expires_at > :now"
            ),
            ExpressionAttributeValues=to_values({":one": 1, ":cid": code_id, ":max": max_attempts, ":now": now}),
            ReturnValues="UPDATED_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ConditionFailed as failed:
        raise CodeRejected(_state(failed.item)) from None
    return int((from_item(response.get("Attributes")) or {}).get("attempts", max_attempts))


# ---------------------------------------------------------------- spending
def _spend(
    phone: str, purpose: str, *, code_hash: str, now: int, max_attempts: int, also_set: dict[str, Any] | None = None
) -> dict[str, Any]:
    sets = ["used_at = :now"]
    values: dict[str, Any] = {":hash": code_hash, ":now": now, ":max": max_attempts}
    for index, (name, value) in enumerate((also_set or {}).items()):
        sets.append(f"{name} = :s{index}")
        values[f":s{index}"] = value
    return {
        "TableName": table(),
        "Key": key(phone, purpose),
        "UpdateExpression": "SET " + ", ".join(sets),
        "ConditionExpression": (
            "code_hash = :hash AND attribute_not_exists(used_at) AND expires_at > :now AND attempts < :max"
        ),
        "ExpressionAttributeValues": to_values(values),
    }


def spend_code_and_sign_in(
    phone: str, *, code_hash: str, now: int, now_iso: str, max_attempts: int, create_user: bool
) -> SignIn:
    """Spend a login code and record the sign-in (creating the user if ``create_user``).

    Two round trips: one transaction (spend the code + the sign-in write) and one
    consistent read of the user. Raises CodeRejected, or UserMissing when the user must
    exist and does not.
    """
    sign_in = users.SignInWrite(phone, now_iso=now_iso, create_user=create_user, verified=True)
    spend = _spend(phone, "login", code_hash=code_hash, now=now, max_attempts=max_attempts)
    try:
        transact({"code": {"Update": spend}, "user": {"Update": sign_in.update()}})
    except Cancelled as cancelled:
        if "code" in cancelled.failed:
            raise CodeRejected(_state(cancelled.failed["code"])) from None
        raise UserMissing() from None
    user = users.get_user(phone)
    assert user is not None  # written by the transaction above; users are never deleted here
    return sign_in.result(user)


def spend_code_and_issue_registration_token(
    phone: str, *, code_hash: str, now: int, max_attempts: int, token_hash: str, token_expires_at: int
) -> None:
    """Spend a registration code and, in the same write, store the hash of the single-use
    registration token that complete-registration must present. One conditional UpdateItem;
    raises CodeRejected."""
    spend = _spend(
        phone,
        "registration",
        code_hash=code_hash,
        now=now,
        max_attempts=max_attempts,
        also_set={"registration_token_hash": token_hash, "registration_token_expires_at": token_expires_at},
    )
    try:
        call("update_item", **spend, ReturnValuesOnConditionCheckFailure="ALL_OLD")
    except ConditionFailed as failed:
        raise CodeRejected(_state(failed.item)) from None


def set_first_password(
    phone: str, *, token_hash: str, password_hash: str, now: int, now_iso: str, create_user: bool
) -> SignIn:
    """Spend the registration token, set the user's first password and sign them in.

    Two round trips: one transaction (spend the token + the sign-in write that sets the
    password only while the user has none) and one consistent read. The token is bound
    to the phone and the registration purpose by the key and is single use by the
    condition. Raises RegistrationTokenRejected, UserMissing or PasswordAlreadySet.
    """
    spend_token = {
        "TableName": table(),
        "Key": key(phone, "registration"),
        "UpdateExpression": "SET registration_token_used_at = :now",
        "ConditionExpression": (
            "registration_token_hash = :hash AND registration_token_expires_at > :now"
            " AND attribute_not_exists(registration_token_used_at)"
        ),
        "ExpressionAttributeValues": to_values({":hash": token_hash, ":now": now}),
    }
    sign_in = users.SignInWrite(
        phone,
        now_iso=now_iso,
        create_user=create_user,
        verified=True,
        also_set={"password_hash": password_hash, "password_changed_at": now_iso},
        conditions=["attribute_not_exists(password_hash)"],
    )
    try:
        transact({"token": {"Update": spend_token}, "user": {"Update": sign_in.update()}})
    except Cancelled as cancelled:
        if "token" in cancelled.failed:
            raise RegistrationTokenRejected() from None
        if cancelled.failed["user"] is None:
            raise UserMissing() from None
        raise PasswordAlreadySet() from None
    user = users.get_user(phone)
    assert user is not None
    return sign_in.result(user)


def spend_code_and_replace_password(
    phone: str, *, code_hash: str, now: int, now_iso: str, max_attempts: int, password_hash: str
) -> None:
    """Spend a password-reset code, set the new password and end every session (epoch bump).

    One transaction. Raises CodeRejected, or UserMissing when the account is gone.
    """
    spend = _spend(phone, "password_reset", code_hash=code_hash, now=now, max_attempts=max_attempts)
    replace = users.password_replacement(phone, password_hash=password_hash, now_iso=now_iso)
    try:
        transact({"code": {"Update": spend}, "user": {"Update": replace}})
    except Cancelled as cancelled:
        if "code" in cancelled.failed:
            raise CodeRejected(_state(cancelled.failed["code"])) from None
        raise UserMissing() from None
