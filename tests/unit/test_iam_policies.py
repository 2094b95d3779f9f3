"""Each function's IAM policy in template.yaml grants what its code really calls.

The flows below run every function through success and refusal paths while a recorder
notes each DynamoDB action (transactions expanded into their per-item actions, as IAM
checks them), each SSM secret read and each SMS. Every recorded action must be granted
to that function by the template; an action the code needs but the policy lacks would
only show up as AccessDenied in AWS.
"""

from __future__ import annotations

import os
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import bcrypt
import pytest

from phone_auth import aws, codes
from phone_auth.errors import ServiceUnavailable
from phone_auth.store import calls
from tests.helpers import ROOT, TABLE_ENV, Api, FakeClock, SetEnv, last_code, load_handler, put_user, sms_outbox

PHONE = "+66812345678"
IMPORTED = "+66891234567"
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
OPERATION_ACTIONS = {
    "get_item": "GetItem",
    "put_item": "PutItem",
    "update_item": "UpdateItem",
    "delete_item": "DeleteItem",
    "batch_get_item": "BatchGetItem",
}


class Recorder:
    def __init__(self) -> None:
        self.current = "?"
        self.used: dict[str, set[str]] = defaultdict(set)

    def note(self, action: str) -> None:
        self.used[self.current].add(action)


class RecordingDynamoDB:
    def __init__(self, real: Any, recorder: Recorder) -> None:
        self.real, self.recorder = real, recorder
        self.tables = {os.environ[variable]: logical_id for logical_id, variable in TABLE_ENV.items()}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.real, name)

        def recorded(**kwargs: Any) -> Any:
            if name == "transact_write_items":
                for item in kwargs["TransactItems"]:
                    ((kind, body),) = item.items()
                    self.recorder.note(f"dynamodb:{TRANSACT_ACTIONS[kind]}@{self.tables[body['TableName']]}")
            elif name == "batch_get_item":
                for table_name in kwargs["RequestItems"]:
                    self.recorder.note(f"dynamodb:BatchGetItem@{self.tables[table_name]}")
            else:
                self.recorder.note(f"dynamodb:{OPERATION_ACTIONS[name]}@{self.tables[kwargs['TableName']]}")
            return method(**kwargs)

        return recorded


def granted_actions() -> dict[str, set[str]]:
    """function -> {"dynamodb:Action@TableLogicalId", "ssm:jwt-secret", "sns:Publish"} from the template."""
    from devtools.handlers import template_functions
    from devtools.template import load_template

    resources = load_template(ROOT / "template.yaml")["Resources"]

    def statement_actions(statements: list[dict[str, Any]]) -> set[str]:
        actions: set[str] = set()
        for statement in statements:
            names = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for target in targets:
                if isinstance(target, dict) and "Fn::GetAtt" in target:
                    actions |= {f"{name}@{target['Fn::GetAtt'][0]}" for name in names}
        return actions

    grants: dict[str, set[str]] = {}
    for logical_id, code in template_functions(load_template(ROOT / "template.yaml")).items():
        props = resources[logical_id]["Properties"]
        actions: set[str] = set()
        for policy in props.get("Policies", []):
            if "Statement" in policy:
                actions |= statement_actions(policy["Statement"])
            elif policy == {"Ref": "JwtSecretReadPolicy"}:
                actions.add("ssm:jwt-secret")
            elif "Fn::If" in policy and policy["Fn::If"][1] == {"Ref": "SmsPublishPolicy"}:
                actions.add("sns:Publish")
            elif "Ref" in policy:
                managed = resources[policy["Ref"]]["Properties"]["PolicyDocument"]["Statement"]
                actions |= statement_actions(managed)
        grants[code.name] = actions
    return grants


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    client = RecordingDynamoDB(aws.dynamodb(), recorder)
    monkeypatch.setattr(calls, "aws", SimpleNamespace(dynamodb=lambda: client))
    real_get = aws.SecureParameters.get

    def get(provider: aws.SecureParameters, name: str, *args: Any, **kwargs: Any) -> Any:
        recorder.note("ssm:jwt-secret")
        return real_get(provider, name, *args, **kwargs)

    monkeypatch.setattr(aws.SecureParameters, "get", get)
    for function_dir in granted_actions():
        module = load_handler(function_dir)
        monkeypatch.setattr(module, "lambda_handler", _tracked(module.lambda_handler, function_dir, recorder))
    return recorder


def _tracked(handler: Any, function_dir: str, recorder: Recorder) -> Any:
    def run(event: dict[str, Any], context: Any) -> Any:
        outer, recorder.current = recorder.current, function_dir
        sent_before = len(sms_outbox())
        try:
            return handler(event, context)
        finally:
            if len(sms_outbox()) > sent_before:
                recorder.note("sns:Publish")
            recorder.current = outer

    return run


def test_every_action_the_code_takes_is_granted_to_that_function(
    api: Api, recorder: Recorder, env: SetEnv, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cost-10 hash below is upgraded at login; this test texts one phone more than a limit allows.
    env(BCRYPT_ROUNDS="11", SMS_PER_PHONE_PER_HOUR="0", SMS_PER_PHONE_PER_DAY="0")
    # Passwordless login, wrong code first; me; logout.
    api.call("send_verification", {"phone": PHONE})
    api.call("verify_code", {"phone": PHONE, "verification_code": "000000"})
    signed_in = api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[1]
    token = signed_in["access_token"]
    assert api.call("me", token=token)[0] == 200
    # Sessions: list, refresh (then replay the spent token after the grace window: the session
    # ends), end one session, log out of this one, log out everywhere.
    assert api.call("list_sessions", token=token)[0] == 200
    refreshed = api.call("refresh", {"refresh_token": signed_in["refresh_token"]})[1]
    clock.advance(60)
    assert api.call("refresh", {"refresh_token": signed_in["refresh_token"]})[0] == 401
    api.call("send_verification", {"phone": PHONE})  # a second device, and a third
    second = api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[1]
    clock.advance(61)
    api.call("send_verification", {"phone": PHONE})
    third = api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[1]
    ended = {"id": refreshed["session_id"]}
    assert api.call("end_session", token=second["access_token"], path_parameters=ended)[1]["success"] is False
    assert api.call("end_session", token=second["access_token"], path_parameters={"id": third["session_id"]})[0] == 200
    assert api.call("logout", {"scope": "current"}, token=second["access_token"])[0] == 200
    clock.advance(61)
    api.call("send_verification", {"phone": PHONE})
    token = api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[1]["access_token"]
    assert api.call("logout", token=token)[0] == 200

    # A send whose SMS fails withdraws the code.
    class BrokenSender:
        def send(self, to: str, body: str) -> None:
            raise ServiceUnavailable()

    with monkeypatch.context() as patch:
        patch.setattr(codes, "get_sender", lambda: BrokenSender())
        assert api.call("send_verification", {"phone": "+66812345679"})[0] == 503
        assert api.call("request_registration_otp", {"phone": "+66812345670"})[0] == 503
    env(SIGNUP_MODE="imported", BCRYPT_ROUNDS="11", SMS_PER_PHONE_PER_HOUR="0", SMS_PER_PHONE_PER_DAY="0")

    # Registration of an imported user, wrong code first, then sign in with the password.
    put_user(IMPORTED)
    assert api.call("check_mobile", {"phone": IMPORTED})[0] == 200
    assert api.call("request_registration_otp", {"phone": IMPORTED})[0] == 200
    api.call("verify_registration_otp", {"phone": IMPORTED, "code": "000000"})
    registration = api.call("verify_registration_otp", {"phone": IMPORTED, "code": last_code(IMPORTED)})[1]
    body = {
        "phone": IMPORTED,
        "password": "mango sticky rice 42",
        "registration_token": registration["registration_token"],
    }
    assert api.call("complete_registration", body)[0] == 200
    assert api.call("send_verification", {"phone": IMPORTED})[0] == 200  # imported mode: a transaction

    # Password login that upgrades a cost-10 hash; then a reset, wrong code first, and a decoy.
    put_user(PHONE, password_hash=bcrypt.hashpw(b"Suan-Luang-2468", bcrypt.gensalt(10)).decode())
    assert api.call("login_mobile", {"phone": PHONE, "password": "Suan-Luang-2468"})[0] == 200
    assert api.call("request_password_reset_otp", {"phone": PHONE})[0] == 200
    assert api.call("request_password_reset_otp", {"phone": "+66899999999"})[0] == 200
    api.call("reset_password", {"phone": PHONE, "code": "000000", "new_password": "durian season 2026"})
    reset = {"phone": PHONE, "code": last_code(PHONE), "new_password": "durian season 2026"}
    assert api.call("reset_password", reset)[0] == 200

    grants = granted_actions()
    assert set(recorder.used) == set(grants), "every function ran"
    missing = {fn: sorted(used - grants[fn]) for fn, used in recorder.used.items() if used - grants[fn]}
    assert missing == {}, f"actions the code takes that the template does not grant: {missing}"
