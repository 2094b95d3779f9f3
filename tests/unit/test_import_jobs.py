"""Import jobs in process on moto: POST /admin/imports, the upload in the import bucket, the
import function run by the upload's event (as EventBridge delivers S3's "Object Created"),
its report, its hand-off to a next invocation, a crashed invocation's retry, events delivered
twice or at once, files it refuses, and GET /admin/imports/{import_id}.

The upload here is an S3 PutObject through boto3 (moto's in-process mock answers boto3 only);
tests/stack/test_import_jobs.py PUTs the file to the pre-signed URL over HTTP and lets the
local stack's EventBridge rule invoke the function.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest

from phone_auth.phones import mask_phone
from tests.helpers import Api, FakeClock, existing_user, load_event, load_handler, password_hash, stored_user

PRINCIPAL = load_event("admin_start_import")["requestContext"]["identity"]["userArn"]
HASH = password_hash("Imported-pass-2468")


# ------------------------------------------------------------------ helpers
class Invocation:
    """Lambda's context for one invocation of the import function: ``seconds`` left at its
    start, ``per_call`` fewer each time the function asks (so a test can make it run short)."""

    def __init__(self, request_id: str = "req-1", seconds: float = 900, per_call: float = 0) -> None:
        self.aws_request_id = request_id
        self.function_name = "phone-auth-test-ImportUsers"
        self.memory_limit_in_mb = 3008
        self.invoked_function_arn = "arn:aws:lambda:ap-southeast-1:123456789012:function:phone-auth-test-ImportUsers"
        self.seconds, self.per_call = seconds, per_call

    def get_remaining_time_in_millis(self) -> int:
        left = self.seconds
        self.seconds -= self.per_call
        return int(max(left, 0) * 1000)


def start(api: Api, file_name: str | None = "users.csv") -> dict[str, Any]:
    status, body, _ = api.call("admin_start_import", {"file_name": file_name} if file_name else {})
    assert status == 201, body
    return body


def upload(import_id: str, text: str | bytes, key: str | None = None) -> dict[str, Any]:
    """Put the file where its URL would, and return the event S3 sends EventBridge for it."""
    s3 = boto3.client("s3")
    bucket = os.environ["IMPORT_BUCKET_NAME"]
    key = key or f"uploads/{import_id}.csv"
    data = text.encode() if isinstance(text, str) else text
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    return object_created(key)


def object_created(key: str) -> dict[str, Any]:
    s3 = boto3.client("s3")
    bucket = os.environ["IMPORT_BUCKET_NAME"]
    head = s3.head_object(Bucket=bucket, Key=key)
    event = load_event("import_users")
    event["resources"] = [f"arn:aws:s3:::{bucket}"]
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"].update(key=key, size=head["ContentLength"], etag=head["ETag"].strip('"'))
    return event


def run(event: dict[str, Any], context: Invocation | None = None) -> None:
    load_handler("import_users").lambda_handler(event, context or Invocation())


def status_of(api: Api, import_id: str) -> dict[str, Any]:
    status, body, _ = api.call("admin_get_import", path_parameters={"import_id": import_id})
    assert status == 200, body
    job: dict[str, Any] = body["import"]
    return job


def report_rows(job: dict[str, Any]) -> list[dict[str, str]]:
    """The report the job's report_url names, read from the bucket (moto answers boto3 only)."""
    assert job.get("report_url"), job
    key = f"reports/{job['import_id']}.csv"
    assert f"/{key}?" in job["report_url"] or f"/{key}&" in job["report_url"] or key in job["report_url"]
    body = boto3.client("s3").get_object(Bucket=os.environ["IMPORT_BUCKET_NAME"], Key=key)["Body"].read()
    return list(csv.DictReader(io.StringIO(body.decode())))


def phones(n: int, first: int = 0) -> list[str]:
    return [f"+6681{first + i:07d}" for i in range(n)]


def csv_of(rows: list[list[str]], header: str = "phone,employee_id,password_hash") -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header.split(","))
    writer.writerows(rows)
    return out.getvalue()


def bucket_keys(prefix: str = "") -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=os.environ["IMPORT_BUCKET_NAME"], Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


# ------------------------------------------------------------------ starting a job
def test_start_gives_a_presigned_put_url_and_a_waiting_job(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from phone_auth.observability import logger

    monkeypatch.setattr(logger.registered_handler, "stream", sys.stdout)
    capsys.readouterr()
    body = start(api, "users-2026-12.csv")
    import_id = body["import_id"]
    assert len(import_id) == 32 and int(import_id, 16) >= 0
    assert body["expires_in"] == 900 and body["status"] == "waiting"
    url = body["upload_url"]
    bucket = os.environ["IMPORT_BUCKET_NAME"]
    assert bucket in url and f"uploads/{import_id}.csv" in url
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=900" in url and "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url

    job = status_of(api, import_id)
    assert job["status"] == "waiting" and job["file_name"] == "users-2026-12.csv"
    assert job["rows"] == 0 and job["counts"] == {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0}
    assert "report_url" not in job and "error" not in job

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    audits = [line["audit"] for line in lines if line.get("message") == "admin action"]
    assert [(a["action"], a["status"], a["outcome"]) for a in audits] == [
        ("start_import", 201, "ok"),
        ("get_import", 200, "ok"),
    ]
    assert {a["principal_arn"] for a in audits} == {PRINCIPAL} and {a["import_id"] for a in audits} == {import_id}


@pytest.mark.parametrize(
    "body",
    [{"file_name": ""}, {"file_name": "x" * 256}, {"file_name": "a\nb"}, {"file_name": 7}, ["users.csv"]],
)
def test_start_refuses_a_bad_file_name(api: Api, body: Any) -> None:
    status, answer, _ = api.call("admin_start_import", body)
    assert (status, answer["error"]["code"]) == (400, "VALIDATION_ERROR")


@pytest.mark.parametrize("raw", ["nope", "0" * 31, "g" * 32, "../" + "0" * 29, "0" * 33])
def test_get_refuses_what_is_not_an_import_id(api: Api, raw: str) -> None:
    status, answer, _ = api.call("admin_get_import", path_parameters={"import_id": raw})
    assert (status, answer["error"]["code"]) == (400, "VALIDATION_ERROR")


def test_get_of_an_unknown_job_is_import_not_found(api: Api) -> None:
    status, answer, _ = api.call("admin_get_import", path_parameters={"import_id": "0" * 32})
    assert (status, answer["error"]["code"]) == (404, "IMPORT_NOT_FOUND")
    assert answer["error"]["message"]


# ------------------------------------------------------------------ a whole job
def test_an_upload_is_imported_as_make_import_would_and_reported_row_by_row(api: Api) -> None:
    existing = "+66810000002"
    api.call("admin_put_user", {"profile": {"employee_id": "OLD"}}, path_parameters={"phone": existing})
    text = (
        "\ufeffMobile;employee_id;PasswordHash\r\n"  # BOM, semicolons, aliases
        "0810000001;E1;\r\n"  # created, local spelling
        "+66810000002;E2;\r\n"  # updated (profile)
        "+66810000003;E3;" + HASH + "\r\n"  # created with a hash
        "12345;E4;\r\n"  # rejected: not a phone
        "0810000001;E5;\r\n"  # rejected: duplicate of line 2
        "+66810000004;E6;not-a-hash\r\n"  # rejected: not bcrypt
    )
    import_id = start(api)["import_id"]
    run(upload(import_id, text))

    job = status_of(api, import_id)
    assert job["status"] == "done" and "error" not in job
    assert job["counts"] == {"created": 2, "updated": 1, "unchanged": 0, "rejected": 3}
    assert job["rows"] == 6 and job["started_at"] and job["finished_at"]
    assert existing_user("+66810000001").profile == {"employee_id": "E1"}
    assert existing_user("+66810000002").profile == {"employee_id": "E2"}
    assert existing_user("+66810000003").password_hash == HASH
    assert stored_user("+66810000004") is None

    rows = report_rows(job)
    assert [(r["line"], r["outcome"]) for r in rows] == [
        ("2", "created"),
        ("3", "updated"),
        ("4", "created"),
        ("5", "rejected"),
        ("6", "rejected"),
        ("7", "rejected"),
    ]
    assert rows[0]["phone"] == mask_phone("+66810000001") and "+66810000001" not in json.dumps(rows)
    assert rows[3]["reason"] == "phone is not a valid phone number" and rows[3]["phone"] == ""
    assert rows[4]["reason"] == "duplicate phone: the same number as row 2"
    assert "bcrypt" in rows[5]["reason"] and rows[5]["phone"] == mask_phone("+66810000004")
    assert bucket_keys(f"reports/{import_id}/") == []  # the parts were joined and removed

    run(upload(import_id, text))  # the same file again through the same URL: the job is done
    assert status_of(api, import_id)["counts"] == job["counts"]


def test_the_same_file_imported_again_as_a_new_job_changes_nothing(api: Api) -> None:
    rows = [[phone, f"E{i}", HASH] for i, phone in enumerate(phones(30))]
    first = start(api)["import_id"]
    run(upload(first, csv_of(rows)))
    second = start(api)["import_id"]
    run(upload(second, csv_of(rows)))
    assert status_of(api, first)["counts"] == {"created": 30, "updated": 0, "unchanged": 0, "rejected": 0}
    assert status_of(api, second)["counts"] == {"created": 0, "updated": 0, "unchanged": 30, "rejected": 0}


def test_plaintext_passwords_are_hashed_with_the_stacks_cost(api: Api) -> None:
    import bcrypt

    import_id = start(api)["import_id"]
    run(upload(import_id, "phone,password\r\n+66810000011,Plain-text-2468\r\n+66810000012,short\r\n"))
    job = status_of(api, import_id)
    assert job["counts"] == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 1}
    stored = existing_user("+66810000011").password_hash
    assert stored is not None and bcrypt.checkpw(b"Plain-text-2468", stored.encode())
    assert stored.startswith(f"$2b${int(os.environ['BCRYPT_ROUNDS']):02d}$")
    assert report_rows(job)[1]["reason"].startswith("password refused: ")


# ------------------------------------------------------------------ more than one invocation
def test_a_long_import_hands_off_and_the_next_invocation_resumes_where_it_stopped(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phone_auth.flows import imports

    monkeypatch.setattr(imports, "SAVE_SECONDS", 0)
    rows = [[phone, f"E{i}", HASH] for i, phone in enumerate(phones(250))]
    rows[120][0] = rows[10][0]  # a duplicate across the hand-off: still rejected
    import_id = start(api)["import_id"]
    # The first invocation runs short: after its first batch it is within the stop margin.
    short = Invocation("req-1", seconds=imports.STOP_MARGIN_SECONDS + 10, per_call=20)
    run(upload(import_id, csv_of(rows)), short)

    job = status_of(api, import_id)
    assert job["status"] == "running" and 0 < job["rows"] < 250, job
    marker = f"resume/{import_id}/1"
    assert bucket_keys("resume/") == [marker]
    assert "report_url" not in job

    run(object_created(marker), Invocation("req-2"))
    job = status_of(api, import_id)
    assert job["status"] == "done", job
    assert job["counts"] == {"created": 249, "updated": 0, "unchanged": 0, "rejected": 1}
    report = report_rows(job)
    assert [int(r["line"]) for r in report] == list(range(2, 252))  # every row once, in file order
    assert report[120]["line"] == "122" and report[120]["reason"] == "duplicate phone: the same number as row 12"

    run(object_created(marker), Invocation("req-3"))  # the marker's event delivered again: ignored
    assert status_of(api, import_id)["counts"] == job["counts"]


def test_a_crashed_invocation_is_retried_and_resumes_after_the_last_saved_line(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phone_auth.flows import imports
    from phone_auth.store import imports as store

    monkeypatch.setattr(imports, "SAVE_SECONDS", 0)
    real = store.batch_get_users
    reads = {"n": 0}

    def fails_on_the_third_batch(*args: Any, **kwargs: Any) -> Any:
        reads["n"] += 1
        if reads["n"] == 3:
            raise store.ImportStoreError("InternalServerError", "DynamoDB had a bad moment", fatal=True)
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "batch_get_users", fails_on_the_third_batch)
    rows = [[phone, f"E{i}", HASH] for i, phone in enumerate(phones(350))]
    import_id = start(api)["import_id"]
    event = upload(import_id, csv_of(rows))
    with pytest.raises(store.ImportStoreError):
        run(event, Invocation("req-1"))  # Lambda sees the invocation fail, and retries it
    job = status_of(api, import_id)
    assert job["status"] == "running" and job["rows"] in (100, 200), job

    run(event, Invocation("req-1"))  # the retry: the same event
    job = status_of(api, import_id)
    assert job["status"] == "done"
    assert job["rows"] == 350 and job["counts"]["rejected"] == 0
    assert job["counts"]["created"] + job["counts"]["unchanged"] == 350  # rows done after the save come again
    assert [int(r["line"]) for r in report_rows(job)] == list(range(2, 352))
    for phone in phones(350):
        assert existing_user(phone).profile is not None


def test_an_upload_event_delivered_twice_at_once_runs_the_job_once(api: Api) -> None:
    rows = [[phone, f"E{i}", HASH] for i, phone in enumerate(phones(200))]
    import_id = start(api)["import_id"]
    event = upload(import_id, csv_of(rows))
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def deliver(n: int) -> None:
        barrier.wait()
        try:
            run(event, Invocation(f"req-{n}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    job = status_of(api, import_id)
    assert job["status"] == "done"
    assert job["counts"] == {"created": 200, "updated": 0, "unchanged": 0, "rejected": 0}
    assert len(report_rows(job)) == 200


# ------------------------------------------------------------------ files and events it refuses
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("name,employee_id\r\nSomchai,E1\r\n", "no phone column"),
        (b"phone,employee_id\r\n+66810000021,\xff\xfe\r\n", "not UTF-8"),
        ("phone,phone\r\n+66810000021,+66810000022\r\n", "twice"),
        ("", "header row"),
    ],
)
def test_a_file_that_is_not_an_import_fails_the_job_with_the_reason(api: Api, data: str | bytes, message: str) -> None:
    import_id = start(api)["import_id"]
    run(upload(import_id, data))
    job = status_of(api, import_id)
    assert job["status"] == "failed" and job["error"]["code"] == "IMPORT_FILE_INVALID", job
    assert message in job["error"]["message"] and "upload.csv" not in job["error"]["message"]
    assert stored_user("+66810000021") is None


def test_a_file_over_the_size_limit_fails_without_being_read(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from phone_auth.flows import imports

    monkeypatch.setattr(imports, "MAX_FILE_BYTES", 100)
    import_id = start(api)["import_id"]
    run(upload(import_id, csv_of([[phone, "E", HASH] for phone in phones(5)])))
    job = status_of(api, import_id)
    assert (job["status"], job["error"]["code"]) == ("failed", "IMPORT_FILE_TOO_LARGE")
    assert job["rows"] == 0 and stored_user(phones(1)[0]) is None


def test_a_file_replaced_between_invocations_fails_the_job(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from phone_auth.flows import imports

    rows = [[phone, f"E{i}", HASH] for i, phone in enumerate(phones(150))]
    import_id = start(api)["import_id"]
    run(upload(import_id, csv_of(rows)), Invocation(seconds=imports.STOP_MARGIN_SECONDS + 10, per_call=20))
    assert status_of(api, import_id)["status"] == "running"
    boto3.client("s3").put_object(
        Bucket=os.environ["IMPORT_BUCKET_NAME"], Key=f"uploads/{import_id}.csv", Body=csv_of(rows[:3]).encode()
    )
    run(object_created(f"resume/{import_id}/1"), Invocation("req-2"))
    job = status_of(api, import_id)
    assert (job["status"], job["error"]["code"]) == ("failed", "IMPORT_UPLOAD_CHANGED")
    assert job["report_url"] and len(report_rows(job)) == job["rows"] == 100


def test_events_for_other_objects_or_no_job_change_nothing(api: Api) -> None:
    import_id = start(api)["import_id"]
    text = csv_of([[phones(1)[0], "E", HASH]])
    upload(import_id, text)
    run(upload(import_id, text, key=f"reports/{import_id}.csv"))  # not an upload
    run(upload("f" * 32, text))  # an upload no job names
    other = object_created(f"uploads/{import_id}.csv")
    other["detail"]["bucket"]["name"] = "someone-elses-bucket"
    run(other)
    assert status_of(api, import_id)["status"] == "waiting"
    assert stored_user(phones(1)[0]) is None


def test_a_job_lambda_gave_up_on_is_shown_as_failed(
    api: Api, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    from phone_auth.store import imports as store

    def always_fails(*args: Any, **kwargs: Any) -> Any:
        raise store.ImportStoreError("InternalServerError", "down", fatal=True)

    monkeypatch.setattr(store, "batch_get_users", always_fails)
    import_id = start(api)["import_id"]
    event = upload(import_id, csv_of([[phones(1)[0], "E", HASH]]))
    for _ in range(3):  # the invocation and Lambda's two retries
        with pytest.raises(store.ImportStoreError):
            run(event)
    assert status_of(api, import_id)["status"] == "running"
    clock.value += 3601
    job = status_of(api, import_id)
    assert (job["status"], job["error"]["code"]) == ("failed", "IMPORT_ABANDONED")


def test_jobs_are_kept_seven_days(api: Api, clock: FakeClock) -> None:
    import_id = start(api)["import_id"]
    item = boto3.client("dynamodb").get_item(
        TableName=os.environ["IMPORT_JOBS_TABLE_NAME"], Key={"import_id": {"S": import_id}}
    )["Item"]
    assert int(item["expires_at"]["N"]) == int(clock.value) + 7 * 86400
    clock.value += 7 * 86400 + 1
    status, answer, _ = api.call("admin_get_import", path_parameters={"import_id": import_id})
    assert (status, answer["error"]["code"]) == (404, "IMPORT_NOT_FOUND")


def test_the_template_keeps_the_import_bucket_private_encrypted_and_expiring() -> None:
    from tests.helpers import template

    bucket = template()["Resources"]["ImportBucket"]["Properties"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 7 and rule["Status"] == "Enabled"
    assert bucket["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    policy = template()["Resources"]["ImportBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": False}} for s in policy)


def test_the_import_function_is_sized_as_the_docs_say() -> None:
    from phone_auth.flows import imports
    from tests.helpers import ROOT, template

    props = template()["Resources"]["ImportUsersFunction"]["Properties"]
    assert (props["Timeout"], props["MemorySize"]) == (900, 3008)
    docs = (ROOT / "docs" / "back-office.md").read_text()
    assert "3008 MB" in docs and "900 s" in docs and f"{imports.STOP_MARGIN_SECONDS} s" in docs
    assert Path(ROOT / "events" / "import_users.json").is_file()


def test_a_hand_off_whose_marker_was_not_written_is_mended_by_lambdas_retry(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phone_auth.errors import ServiceUnavailable
    from phone_auth.flows import imports
    from phone_auth.store import import_files

    rows = [[phone, f"E{i}", HASH] for i, phone in enumerate(phones(150))]
    import_id = start(api)["import_id"]
    event = upload(import_id, csv_of(rows))
    real = import_files.put_resume_marker
    with monkeypatch.context() as patch:

        def s3_down(*args: Any) -> None:
            raise ServiceUnavailable(details={"dependency": "s3"})

        patch.setattr(import_files, "put_resume_marker", s3_down)
        with pytest.raises(ServiceUnavailable):
            run(event, Invocation(seconds=imports.STOP_MARGIN_SECONDS + 10, per_call=20))
    assert bucket_keys("resume/") == [] and status_of(api, import_id)["status"] == "running"
    assert import_files.put_resume_marker is real
    run(event, Invocation("req-1"))  # Lambda's retry of the same event: the marker is written now
    assert bucket_keys("resume/") == [f"resume/{import_id}/1"]
    run(object_created(f"resume/{import_id}/1"), Invocation("req-2"))
    job = status_of(api, import_id)
    assert (job["status"], job["rows"], job["counts"]["created"]) == ("done", 150, 150)
