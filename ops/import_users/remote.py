"""One file's import through a stack's admin API: the operator needs ``execute-api:Invoke``
on it (the stack's ``BackOfficePolicyArn``), no DynamoDB access.

1. ``POST {admin_api}/admin/imports`` ``{"file_name": <basename>}``, signed with SigV4
   (botocore's ``SigV4Auth``, service ``execute-api``): the job and its pre-signed upload URL;
2. ``PUT`` the file's bytes to that URL (pre-signed: no signature of ours);
3. ``GET {admin_api}/admin/imports/{import_id}`` every ``POLL_SECONDS``, signed, showing its
   rows and counts with ``ops.import_users.progress``, until the job is ``done`` or ``failed``;
4. ``GET`` the job's ``report_url`` (pre-signed; CSV ``line,phone,outcome,reason``) and print
   each rejected row as ``row N: reason``, then the summary line, as the direct mode does.

The stack's own settings apply (its phone region, its bcrypt cost). Every refusal (our error
body ``{"success": false, "error": {"code", "message"}}``, or API Gateway's 403s), a network
problem and a failed job become one ``ImportFailed`` line.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.import_users.progress import Display, Lines, Meter, duration
from phone_auth.user_import.reading import count_rows, header, read_records, sniff_delimiter
from phone_auth.user_import.report import ImportFailed, ImportReport
from phone_auth.user_import.run import Printer

POLL_SECONDS = 2.0
#: A job still ``waiting`` this long after its upload was never started by the import function.
START_LIMIT_SECONDS = 600.0
TIMEOUT_SECONDS = 30.0
SERVICE = "execute-api"
sleep = time.sleep  # tests record it
monotonic = time.monotonic  # tests move it

#: What to check after each of API Gateway's refusals (docs/back-office.md).
_HINTS = {
    "MISSING_AUTHENTICATION_TOKEN": "the call was unsigned or the route does not exist: check the admin API URL",
    "INVALID_SIGNATURE": "check the credentials and that the region is the stack's",
    "EXPIRED_TOKEN": "the credentials expired: renew them",
    "ACCESS_DENIED": "the signing identity needs execute-api:Invoke on the admin API (the stack's BackOfficePolicyArn)",
}
_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


@dataclass(frozen=True)
class AdminApi:
    """Where the admin API is and how to sign for it: ``url`` is its stage's base URL (the
    stack's ``AdminApiUrl`` output, or the local stack's ``admin_api``); ``credentials`` has
    ``access_key``, ``secret_key`` and ``token`` (botocore's, or ``get_frozen_credentials()``'s)."""

    url: str
    credentials: Any
    region: str

    def endpoint(self, path: str) -> str:
        return self.url.rstrip("/") + path


def region_of(url: str) -> str | None:
    """The region in an ``execute-api`` URL's host, if it is one."""
    match = _EXECUTE_API_HOST.match(urllib.parse.urlsplit(url).hostname or "")
    return match["region"] if match else None


@dataclass
class ApiImport:
    """An import run through the API: the counts and rejected rows, the job's id and its last state."""

    report: ImportReport
    import_id: str
    job: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ HTTP
def _frozen(credentials: Any) -> Any:
    freeze = getattr(credentials, "get_frozen_credentials", None)
    return freeze() if callable(freeze) else credentials


def _refusal(what: str, status: int, headers: Any, raw: bytes) -> ImportFailed:
    """One line for a refused call: our error code and message, else the gateway's type, else the body."""
    code = message = ""
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code, message = str(error.get("code") or ""), str(error.get("message") or "")
        elif isinstance(body.get("message"), str):  # API Gateway's own body
            message = body["message"]
    if not code:
        code = str(headers.get("x-amzn-ErrorType") or "").split(":")[0]
    if not code:
        match = re.search(rb"<Code>([^<]{1,100})</Code>", raw)  # S3's XML error
        code = match[1].decode() if match else ""
    if not message and not code:
        message = raw[:200].decode("utf-8", "replace").strip() or "(no body)"
    line = f"{what}: HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    hint = _HINTS.get(code)
    return ImportFailed(line + (f" ({hint})" if hint else ""))


def _open(request: urllib.request.Request, what: str) -> Any:
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)  # noqa: S310 (the admin API's or S3's URL)
    except urllib.error.HTTPError as error:
        with error:
            raw = error.read()
        raise _refusal(what, error.code, error.headers, raw) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        host = urllib.parse.urlsplit(request.full_url).netloc
        raise ImportFailed(f"{what}: cannot reach {host}: {reason}") from None


def _signed_call(api: AdminApi, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A call to the admin API signed with SigV4: its JSON answer (``success`` true)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    url = api.endpoint(path)
    data = b"" if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    signed = AWSRequest(method=method, url=url, data=data, headers=headers)
    SigV4Auth(_frozen(api.credentials), SERVICE, api.region).add_auth(signed)
    request = urllib.request.Request(url, data or None, dict(signed.headers.items()), method=method)  # noqa: S310
    what = f"{method} {path.split('?')[0]}"
    with _open(request, what) as response:
        raw = response.read()
    try:
        answer = json.loads(raw)
    except ValueError:
        raise ImportFailed(f"{what}: the answer is not JSON: {raw[:200]!r}") from None
    if not isinstance(answer, dict) or answer.get("success") is not True:
        raise ImportFailed(f"{what}: unexpected answer: {raw[:200]!r}")
    return answer


def _upload(url: str, file: Path) -> None:
    """PUT the file's bytes to the pre-signed URL (streamed from disk)."""
    size = file.stat().st_size
    with file.open("rb") as data:
        headers = {"Content-Type": "text/csv", "Content-Length": str(size)}
        request = urllib.request.Request(url, data, headers, method="PUT")  # noqa: S310 (pre-signed S3 URL)
        with _open(request, "upload (PUT upload_url)") as response:
            response.read()


def _report_rows(url: str) -> Iterator[dict[str, str]]:
    """The report's rows (``line``, ``phone``, ``outcome``, ``reason``), streamed."""
    with _open(urllib.request.Request(url), "report (GET report_url)") as response:  # noqa: S310 (pre-signed)
        text = io.TextIOWrapper(response, encoding="utf-8-sig", newline="")
        yield from csv.DictReader(text)


# ------------------------------------------------------------------ the run
def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _counts_of(job: dict[str, Any]) -> ImportReport:
    counts = _mapping(job.get("counts"))

    def count(name: str) -> int:
        return int(counts.get(name) or 0)

    return ImportReport(
        created=count("created"), updated=count("updated"), unchanged=count("unchanged"), rejected=count("rejected")
    )


def _check_file(file: Path) -> int | None:
    """The direct mode's checks of the file before anything is sent: it exists, it is UTF-8
    and starts with a header row naming a phone column. Returns its row count."""
    if not file.is_file():
        raise ImportFailed(f"{file}: no such file")
    delimiter = sniff_delimiter(file)
    first = next(read_records(file, delimiter), None)
    if first is None or first[0] != 1:
        raise ImportFailed(f"{file}: the first line must be the header row (phone,...)")
    header(first[1])
    return count_rows(file, delimiter)


def import_file_via_api(
    path: str | Path,
    api: AdminApi,
    *,
    progress: Printer | Display = print,
    report: Printer | None = None,
    notice: Printer | None = None,
    poll_seconds: float | None = None,
) -> ApiImport:
    """Import one CSV file through the admin API (see the module docstring).

    `progress` and `report` work as in ``writing.import_file``; `notice` (default: `progress`
    when it is a printer, else nothing) gets the job's id once the upload is done. The job is
    asked for every `poll_seconds` (default ``POLL_SECONDS``).
    Raises ImportFailed on a refused call, a network problem or a failed job (after printing
    the rejected rows its report has)."""
    display = progress if isinstance(progress, Display) else Lines(progress)
    to_report = report or (progress if not isinstance(progress, Display) else print)
    to_notice = notice or (progress if not isinstance(progress, Display) else None)

    def say(line: str) -> None:
        display.clear()
        to_report(line)

    file = Path(path)
    try:
        total = _check_file(file)
        started = _signed_call(api, "POST", "/admin/imports", {"file_name": file.name})
        import_id = str(started.get("import_id") or "")
        upload_url = started.get("upload_url")
        if not import_id or not isinstance(upload_url, str):
            raise ImportFailed(f"POST /admin/imports: no import_id or upload_url in the answer ({sorted(started)})")
        _upload(upload_url, file)
        if to_notice is not None:
            display.clear()
            to_notice(f"import {import_id}: {file.name} uploaded, the stack imports it")
        job = _watch(api, import_id, display, total, POLL_SECONDS if poll_seconds is None else poll_seconds)
    finally:
        display.close()
    result = _counts_of(job)
    report_url = job.get("report_url")
    listed = 0
    if isinstance(report_url, str):
        for row in _report_rows(report_url):
            if row.get("outcome") == "rejected":
                listed += 1
                result.rejections.append((int(row.get("line") or 0), row.get("reason") or ""))
                say(f"row {row.get('line')}: {row.get('reason')}")
    if job.get("status") == "failed":
        error = _mapping(job.get("error"))
        rows = f" after {result.rows} rows ({result.counts()}; re-running the file is safe)" if result.rows else ""
        raise ImportFailed(
            f"import {import_id} failed{rows}: {error.get('code', 'UNKNOWN')}: {error.get('message', '(no message)')}"
        )
    if listed != result.rejected:
        say(f"(the report lists {listed} rejected rows, the job counted {result.rejected})")
    say(result.summary())
    return ApiImport(result, import_id, job)


def _watch(
    api: AdminApi,
    import_id: str,
    display: Display,
    total: int | None,
    poll_seconds: float,
) -> dict[str, Any]:
    """Poll the job until it is done or failed; its rows and counts on the display meanwhile."""
    meter = Meter(display, total)
    uploaded = monotonic()
    job: dict[str, Any] = {}
    try:
        while True:
            answer = _signed_call(api, "GET", f"/admin/imports/{import_id}")
            job = _mapping(answer.get("import"))
            status = job.get("status")
            if status in ("done", "failed"):
                break
            waited = monotonic() - uploaded
            if status == "waiting" and waited > START_LIMIT_SECONDS:
                raise ImportFailed(
                    f"import {import_id} is still waiting {duration(waited)} after its upload: "
                    "the stack's import function has not started it (check ImportUsersFunction's logs)"
                )
            counts = _counts_of(job)
            meter.update(int(job.get("rows") or counts.rows), counts.counts())
            sleep(poll_seconds)
    except KeyboardInterrupt:
        raise ImportFailed(f"stopped watching import {import_id}: the stack goes on with it") from None
    meter.finish(int(job.get("rows") or _counts_of(job).rows))
    return job
