"""ops.import_users through the admin API (ops/import_users/remote.py), against a fake admin API.

The fake is a real HTTP server on the loopback: it checks each admin call's SigV4 signature
with the local stack's own verifier (devtools.local_stack.sigv4: botocore's canonical request,
the documented local credentials), takes the upload on a "pre-signed" URL that must come
unsigned, answers the job's states in turn, and serves the report. Tests script its answers:
refusals in our error body and API Gateway's, a failed job, S3's XML error, nothing listening.
The end-to-end run on the local stack is tests/stack/test_import_jobs.py.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.local_stack import sigv4
from ops.import_users import main, remote

IMPORT_ID = "0123456789abcdef0123456789abcdef"
REGION = "ap-southeast-1"
PHONE = "+66812345678"
HASH = "$2b$10$" + "a" * 53
REPORT = (
    "line,phone,outcome,reason\r\n"
    "2,+668*****678,created,\r\n"
    "3,,rejected,phone is not a valid phone number\r\n"
    '4,+668*****678,rejected,"duplicate phone: the same number as row 2"\r\n'
)


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, body: Any, **headers: str) -> Answer:
        return cls(status, json.dumps(body).encode(), {"Content-Type": "application/json", **headers})


def job(status: str, rows: int = 0, **extra: Any) -> dict[str, Any]:
    counts = extra.pop("counts", {"created": rows, "updated": 0, "unchanged": 0, "rejected": 0})
    return {"import_id": IMPORT_ID, "status": status, "rows": rows, "counts": counts, **extra}


class FakeAdminApi:
    """The admin API's two import routes, the upload URL and the report URL (module docstring)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.start: Answer | None = None  # None: 201 with the job
        self.upload: Answer = Answer(200, b"")
        self.jobs: list[dict[str, Any]] = [job("done")]
        self.report = REPORT
        self.local_credentials = dict(sigv4.LOCAL_CREDENTIALS)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {name: value for name, value in self.headers.items()}
                fake.requests.append((self.command, self.path, headers, body))
                answer = fake.answer(self.command, self.path, list(self.headers.items()), body)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_PUT = handle_one

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.admin_api = self.url + "/admin"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> Answer:
        route = urllib.parse.urlsplit(path).path
        if route == "/_local/info":
            return Answer.json(
                200,
                {
                    "region": REGION,
                    "admin_api": self.admin_api,
                    "admin_credentials": {**self.local_credentials, "region": REGION, "service": "execute-api"},
                },
            )
        if route == "/upload":
            assert not any(name.lower() == "authorization" for name, _ in headers), "the upload URL is pre-signed"
            return self.upload
        if route == "/report":
            return Answer(200, self.report.encode(), {"Content-Type": "text/csv"})
        if route.startswith("/admin/admin/"):
            try:
                sigv4.verify(method=method, url=self.url + path, headers=headers, body=body, region=REGION)
            except sigv4.SignatureRefused as refused:
                code = str(refused)
                message = {"MISSING_AUTHENTICATION_TOKEN": "Missing Authentication Token"}.get(
                    code, "The request signature does not match"
                )
                return Answer.json(403, {"success": False, "error": {"code": code, "message": message}})
        if (method, route) == ("POST", "/admin/admin/imports"):
            if self.start is not None:
                return self.start
            started = {"success": True, "import_id": IMPORT_ID, "upload_url": self.url + "/upload?X-Amz-Signature=0"}
            return Answer.json(201, started | {"expires_in": 900, "status": "waiting"})
        if (method, route) == ("GET", f"/admin/admin/imports/{IMPORT_ID}"):
            state = self.jobs.pop(0) if len(self.jobs) > 1 else self.jobs[0]
            return Answer.json(200, {"success": True, "import": state})
        return Answer.json(404, {"success": False, "error": {"code": "NOT_FOUND", "message": "no such route"}})

    def calls(self, method: str | None = None) -> list[tuple[str, str]]:
        return [(m, urllib.parse.urlsplit(p).path) for m, p, _, _ in self.requests if method in (None, m)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAdminApi]:
    api = FakeAdminApi()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", sigv4.LOCAL_CREDENTIALS["access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", sigv4.LOCAL_CREDENTIALS["secret_access_key"])
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits between two polls, recorded instead of slept."""
    waited: list[float] = []
    monkeypatch.setattr(remote, "sleep", waited.append)
    return waited


@pytest.fixture
def users_csv(tmp_path: Path) -> Path:
    path = tmp_path / "users.csv"
    path.write_text(f"phone,password_hash\n{PHONE},{HASH}\nnot-a-phone,{HASH}\n0812345678,{HASH}\n")
    return path


def via_api(fake: FakeAdminApi, path: Path, *options: str) -> list[str]:
    return [str(path), "--admin-api", fake.admin_api, "--region", REGION, *options]


def done_with_report(fake: FakeAdminApi, rejected: int = 2) -> None:
    counts = {"created": 1, "updated": 0, "unchanged": 0, "rejected": rejected}
    fake.jobs = [
        job("waiting"),
        job("running", 1, counts={"created": 1, "updated": 0, "unchanged": 0, "rejected": 0}),
        job("done", 1 + rejected, counts=counts, report_url=fake.url + "/report?X-Amz-Signature=0"),
    ]


# ------------------------------------------------------------------ a run
def test_a_run_signs_uploads_polls_and_lists_the_reports_rejected_rows(
    fake: FakeAdminApi, users_csv: Path, sleeps: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    done_with_report(fake)

    code = main(via_api(fake, users_csv))

    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert captured.out.splitlines() == [
        "row 3: phone is not a valid phone number",
        "row 4: duplicate phone: the same number as row 2",
        "created=1 updated=0 unchanged=0 rejected=2",
    ]
    assert f"import {IMPORT_ID}: users.csv uploaded" in captured.err
    assert "2 rows were rejected (listed above); the other row was imported." in captured.err
    assert fake.calls() == [
        ("POST", "/admin/admin/imports"),
        ("PUT", "/upload"),
        *[("GET", f"/admin/admin/imports/{IMPORT_ID}")] * 3,
        ("GET", "/report"),
    ]
    (post,) = [request for request in fake.requests if request[0] == "POST"]
    assert json.loads(post[3]) == {"file_name": "users.csv"}
    (put,) = [request for request in fake.requests if request[0] == "PUT"]
    assert put[3] == users_csv.read_bytes()
    assert sleeps == [remote.POLL_SECONDS, remote.POLL_SECONDS] and remote.POLL_SECONDS == 2


def test_exit_code_0_when_no_row_is_rejected(
    fake: FakeAdminApi, users_csv: Path, sleeps: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    done_with_report(fake, rejected=0)
    fake.report = "line,phone,outcome,reason\r\n2,+668*****678,created,\r\n"

    code = main(via_api(fake, users_csv))

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.splitlines() == ["created=1 updated=0 unchanged=0 rejected=0"]


def test_the_local_stack_path_signs_with_the_credentials_of_its_info(
    fake: FakeAdminApi, users_csv: Path, sleeps: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    done_with_report(fake)

    code = main([str(users_csv), "--local", fake.url, "--via-api"])

    assert code == 2, capsys.readouterr().err
    assert ("GET", "/_local/info") in fake.calls()


def test_the_stack_option_reads_the_admin_api_url_from_the_stack_outputs(
    fake: FakeAdminApi, users_csv: Path, sleeps: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    done_with_report(fake)
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"AdminApiUrl": {"Value": fake.admin_api}},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="phone-auth-test", TemplateBody=json.dumps(template)
    )

    code = main([str(users_csv), "--stack", "phone-auth-test", "--region", REGION])

    assert code == 2, capsys.readouterr().err
    assert fake.calls("POST") == [("POST", "/admin/admin/imports")]


def test_an_unknown_stack_says_what_the_lookup_needs(
    fake: FakeAdminApi, users_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([str(users_csv), "--stack", "no-such-stack", "--region", REGION])

    err = capsys.readouterr().err
    assert code == 1
    assert "stack no-such-stack" in err and "cloudformation:DescribeStacks" in err and "--admin-api URL" in err
    assert fake.requests == []


def test_a_dry_run_checks_the_file_here_and_calls_nothing(
    fake: FakeAdminApi, users_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([str(users_csv), "--stack", "phone-auth-test", "--dry-run"])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith("import_users: a dry run does not go through the admin API: checking the file")
    assert captured.out.splitlines()[-1].startswith("valid=1 rejected=2 (dry run without a table")
    assert fake.requests == []


# ------------------------------------------------------------------ refusals and failures: one line, exit 1
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            Answer.json(
                403,
                {"success": False, "error": {"code": "ACCESS_DENIED", "message": "not allowed"}},
                **{"x-amzn-ErrorType": "AccessDeniedException"},
            ),
            "POST /admin/imports: HTTP 403 ACCESS_DENIED: not allowed (the signing identity needs "
            "execute-api:Invoke on the admin API (the stack's BackOfficePolicyArn))",
        ),
        (
            Answer.json(
                403,
                {"message": "Missing Authentication Token"},
                **{"x-amzn-ErrorType": "MissingAuthenticationTokenException"},
            ),
            "POST /admin/imports: HTTP 403 MissingAuthenticationTokenException: Missing Authentication Token",
        ),
        (
            Answer.json(429, {"success": False, "error": {"code": "RATE_LIMITED", "message": "slow down"}}),
            "POST /admin/imports: HTTP 429 RATE_LIMITED: slow down",
        ),
        (Answer(502, b"<html>Bad Gateway</html>"), "POST /admin/imports: HTTP 502: <html>Bad Gateway</html>"),
        (
            Answer.json(201, {"success": True}),
            "POST /admin/imports: no import_id or upload_url in the answer (['success'])",
        ),
    ],
)
def test_a_refused_start_is_one_line_and_exit_1(
    fake: FakeAdminApi, users_csv: Path, capsys: pytest.CaptureFixture[str], answer: Answer, expected: str
) -> None:
    fake.start = answer

    code = main(via_api(fake, users_csv))

    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert captured.err.splitlines() == [f"import_users: error: {expected}"]
    assert fake.calls("PUT") == []


def test_a_wrong_secret_is_refused_by_the_signature_check(
    fake: FakeAdminApi, users_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.local_credentials["secret_access_key"] = "not-the-secret"

    code = main([str(users_csv), "--local", fake.url, "--via-api"])

    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.splitlines() == [
        "import_users: error: POST /admin/imports: HTTP 403 INVALID_SIGNATURE: The request signature does not "
        "match (check the credentials and that the region is the stack's)"
    ]


def test_a_signature_for_another_region_is_refused(
    fake: FakeAdminApi, users_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([str(users_csv), "--admin-api", fake.admin_api, "--region", "us-east-1"])

    assert code == 1
    assert "HTTP 403 INVALID_SIGNATURE" in capsys.readouterr().err


def test_a_refused_upload_shows_s3s_error_code(
    fake: FakeAdminApi, users_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.upload = Answer(
        403,
        b"<?xml version='1.0'?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
        {"Content-Type": "application/xml"},
    )

    code = main(via_api(fake, users_csv))

    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.splitlines() == ["import_users: error: upload (PUT upload_url): HTTP 403 AccessDenied"]


def test_a_failed_job_lists_the_rows_its_report_has_and_exits_1(
    fake: FakeAdminApi, users_csv: Path, sleeps: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    counts = {"created": 1, "updated": 0, "unchanged": 0, "rejected": 2}
    fake.jobs = [
        job("running"),
        job(
            "failed",
            3,
            counts=counts,
            error={"code": "IMPORT_UPLOAD_CHANGED", "message": "the file was replaced while it was imported"},
            report_url=fake.url + "/report",
        ),
    ]

    code = main(via_api(fake, users_csv))

    captured = capsys.readouterr()
    assert code == 1
    assert captured.out.splitlines() == [
        "row 3: phone is not a valid phone number",
        "row 4: duplicate phone: the same number as row 2",
    ]
    assert captured.err.splitlines()[-1] == (
        f"import_users: error: import {IMPORT_ID} failed after 3 rows (created=1 updated=0 unchanged=0 rejected=2; "
        "re-running the file is safe): IMPORT_UPLOAD_CHANGED: the file was replaced while it was imported"
    )


def test_a_job_never_started_is_an_error_not_an_endless_wait(
    fake: FakeAdminApi,
    users_csv: Path,
    sleeps: list[float],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake.jobs = [job("waiting")]
    now = iter(range(0, 10_000, 300))
    monkeypatch.setattr(remote, "monotonic", lambda: float(next(now)))

    code = main(via_api(fake, users_csv))

    assert code == 1
    assert capsys.readouterr().err.splitlines()[-1:] == [
        f"import_users: error: import {IMPORT_ID} is still waiting 15 min 00 s after its upload: the stack's import "
        "function has not started it (check ImportUsersFunction's logs)"
    ]
    assert sleeps == [2.0, 2.0]  # asked at 5 and 10 minutes, then given up


def test_nothing_listening_is_one_line_and_exit_1(users_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    closed = FakeAdminApi()
    closed.close()

    code = main(via_api(closed, users_csv))

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"import_users: error: POST /admin/imports: cannot reach {closed.url[len('http://') :]}: ")
    assert len(err.splitlines()) == 1


def test_the_file_is_checked_before_any_call(
    fake: FakeAdminApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    no_phone = tmp_path / "no-phone.csv"
    no_phone.write_text("tel,first_name\n0812345678,A\n")

    assert main(via_api(fake, tmp_path / "missing.csv")) == 1
    assert main(via_api(fake, no_phone)) == 1

    err = capsys.readouterr().err
    assert "missing.csv: no such file" in err and "no phone column" in err
    assert fake.requests == []


# ------------------------------------------------------------------ options
@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--via-api"], "--via-api goes with --local"),
        (["--stack", "s", "--bcrypt-rounds", "10"], "--bcrypt-rounds: the stack's own settings apply"),
        (["--admin-api", "https://x", "--default-region", "US"], "--default-region: the stack's own settings apply"),
        (["--stack", "s", "--table", "t"], "not allowed with argument"),
    ],
)
def test_options_that_do_not_go_together_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path / "users.csv"), *options])

    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_the_region_is_read_from_an_execute_api_url() -> None:
    assert remote.region_of("https://abc123.execute-api.ap-southeast-1.amazonaws.com/admin") == "ap-southeast-1"
    assert remote.region_of("https://abc123.execute-api.cn-north-1.amazonaws.com.cn/admin") == "cn-north-1"
    assert remote.region_of("http://127.0.0.1:3000/_admin") is None
