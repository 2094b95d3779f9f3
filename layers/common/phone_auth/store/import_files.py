"""Import files in the import bucket: the upload, the report and the markers that resume a job.

Keys, all under the bucket's 7-day expiry:

- ``uploads/<import_id>.csv``: the file the back office PUTs through the pre-signed URL;
- ``resume/<import_id>/<segment>``: an empty marker whose creation invokes the import function
  again (S3 -> EventBridge, as the upload did) to go on with a long import;
- ``reports/<import_id>/part-NNNNN.csv``: the report's rows, one part per save while it runs;
- ``reports/<import_id>.csv``: the whole report once the job ends.

This module is the only code that calls ``phone_auth.aws.s3()``.
"""

from __future__ import annotations

import re
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from phone_auth import aws
from phone_auth.errors import ServiceUnavailable
from phone_auth.settings import get_settings

_ID = r"(?P<import_id>[0-9a-f]{32})"
IMPORT_ID = re.compile(f"^{_ID}$")
_UPLOAD = re.compile(rf"^uploads/{_ID}\.csv$")
_RESUME = re.compile(rf"^resume/{_ID}/(?P<segment>[1-9][0-9]{{0,5}})$")


class UploadChanged(Exception):
    """The upload is not the file the job started with (replaced through its URL since)."""


def upload_key(import_id: str) -> str:
    return f"uploads/{import_id}.csv"


def report_key(import_id: str) -> str:
    return f"reports/{import_id}.csv"


def part_key(import_id: str, part: int) -> str:
    return f"reports/{import_id}/part-{part:05d}.csv"


def object_of(key: str) -> tuple[str, int] | None:
    """(import id, segment) of an upload (segment 0) or a resume marker; None for any other key."""
    if match := _UPLOAD.match(key):
        return match["import_id"], 0
    if match := _RESUME.match(key):
        return match["import_id"], int(match["segment"])
    return None


def _bucket() -> str:
    return get_settings().import_bucket_name


def _unavailable(exc: Exception) -> ServiceUnavailable:
    return ServiceUnavailable(details={"dependency": "s3", "reason": type(exc).__name__})


def upload_url(import_id: str, expires_in: int) -> str:
    """A pre-signed PUT of the job's upload, signed with the function's role (no call made).
    Only the method, bucket and key are signed: any Content-Type may come with the file."""
    url: str = aws.s3().generate_presigned_url(
        "put_object", Params={"Bucket": _bucket(), "Key": upload_key(import_id)}, ExpiresIn=expires_in
    )
    return url


def report_url(key: str, expires_in: int) -> str:
    """A pre-signed GET of a report, downloaded as ``import-report.csv``."""
    params = {"Bucket": _bucket(), "Key": key, "ResponseContentDisposition": 'attachment; filename="import-report.csv"'}
    url: str = aws.s3().generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
    return url


def download_upload(import_id: str, path: Path, *, etag: str) -> None:
    """Copy the job's upload to ``path``; UploadChanged unless it still is the ``etag`` one
    (S3 checks it: If-Match)."""
    try:
        response = aws.s3().get_object(Bucket=_bucket(), Key=upload_key(import_id), IfMatch=etag)
        with path.open("wb") as file:
            for chunk in response["Body"].iter_chunks(1 << 20):
                file.write(chunk)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in {"PreconditionFailed", "NoSuchKey", "412", "404"}:
            raise UploadChanged() from None
        raise _unavailable(exc) from None
    except BotoCoreError as exc:
        raise _unavailable(exc) from None


def _put(key: str, body: bytes, content_type: str) -> None:
    try:
        aws.s3().put_object(Bucket=_bucket(), Key=key, Body=body, ContentType=content_type)
    except (BotoCoreError, ClientError) as exc:
        raise _unavailable(exc) from None


def put_part(import_id: str, part: int, text: str) -> None:
    _put(part_key(import_id, part), text.encode(), "text/csv; charset=utf-8")


def put_resume_marker(import_id: str, segment: int) -> None:
    """The marker whose creation invokes the function again for ``segment``."""
    _put(f"resume/{import_id}/{segment}", b"", "application/octet-stream")


def join_parts(import_id: str, parts: int, header: str) -> str:
    """Write the whole report (``header`` then every part, in order), remove the parts, and
    return the report's key."""
    s3, key = aws.s3(), report_key(import_id)
    try:
        chunks = [header.encode()]
        for part in range(parts):
            chunks.append(s3.get_object(Bucket=_bucket(), Key=part_key(import_id, part))["Body"].read())
        s3.put_object(Bucket=_bucket(), Key=key, Body=b"".join(chunks), ContentType="text/csv; charset=utf-8")
        for part in range(parts):
            s3.delete_object(Bucket=_bucket(), Key=part_key(import_id, part))
    except (BotoCoreError, ClientError) as exc:
        raise _unavailable(exc) from None
    return key
