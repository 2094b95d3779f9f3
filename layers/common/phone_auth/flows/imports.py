"""Bulk import jobs: the back office uploads a CSV file and the stack imports it, as Cognito's
user import jobs do.

- ``start_import`` (POST /admin/imports): a new job, ``waiting``, and a pre-signed PUT URL of
  its upload in the import bucket (``UPLOAD_URL_SECONDS``).
- ``run_import`` (the import function, invoked by S3's "Object Created" event through
  EventBridge): claims the job (``store.import_jobs``), reads the upload exactly as
  ``make import`` reads a file (``phone_auth.user_import``: header aliases, delimiters, BOM,
  plaintext passwords or bcrypt hashes, idempotent conditional writes, bcrypt on every core),
  and writes a per-row report beside it (line, masked phone, outcome, reason). It saves where
  it is every ``SAVE_SECONDS``; with less than ``STOP_MARGIN_SECONDS`` left it stops taking
  rows, saves, releases the job and leaves a resume marker whose event starts the next
  invocation after the last line done. A crashed invocation is retried by Lambda and resumes
  after the last saved line (rows done since are done again: they count as ``unchanged``).
- ``get_import`` (GET /admin/imports/{import_id}): the job's state and counts, and a pre-signed
  GET URL of its report once there is one.
"""

from __future__ import annotations

import csv
import io
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phone_auth import audit, clock
from phone_auth.aws import import_dynamodb
from phone_auth.errors import ImportNotFound, ValidationFailed
from phone_auth.observability import logger, metrics
from phone_auth.phones import mask_phone
from phone_auth.settings import get_settings
from phone_auth.store import import_files, import_jobs
from phone_auth.store.import_jobs import ImportJob, JobLost, JobNotClaimable
from phone_auth.user_import.reading import Validator, header, read_records, sniff_delimiter
from phone_auth.user_import.report import ImportFailed, ImportReport
from phone_auth.user_import.run import Outcome, Run, feed

UPLOAD_URL_SECONDS = 900
REPORT_URL_SECONDS = 900
KEEP_DAYS = 7  # the bucket's expiry (template.yaml ImportBucket) and the jobs' TTL
#: The largest upload read: 50 MB is some 500,000 rows, well inside the function's 512 MB of /tmp.
MAX_FILE_BYTES = 50 * 1024 * 1024
#: Stop taking rows with this much of the invocation left: the two batches in flight (200
#: plaintext passwords are ~30 s of bcrypt at cost 12 on two vCPUs, ~120 s at cost 14), the
#: last save and the hand-off fit in it. Should S3 or DynamoDB stall beyond it, Lambda's
#: timeout ends the invocation and the retry resumes after the last save.
STOP_MARGIN_SECONDS = 180
SAVE_SECONDS = 10
#: A running job whose lease ran out this long ago was given up by Lambda (every retry failed
#: or the event grew older than the function's MaximumEventAgeInSeconds): shown as failed.
ABANDONED_AFTER_SECONDS = 3600
REPORT_HEADER = "line,phone,outcome,reason\r\n"


# ---------------------------------------------------------------- starting and reading
@dataclass(frozen=True)
class StartedImport:
    import_id: str
    upload_url: str
    expires_in: int


def start_import(file_name: str | None, principal_arn: str) -> StartedImport:
    """A new job and its upload URL: one PutItem (the URL is signed here, no call)."""
    now = clock.now()
    import_id = secrets.token_hex(16)
    audit.note_import(import_id)
    job = ImportJob(
        import_id=import_id,
        status="waiting",
        created_at=clock.iso(now),
        expires_at=int(now) + KEEP_DAYS * 86400,
        upload_key=import_files.upload_key(import_id),
        principal_arn=principal_arn,
        file_name=file_name,
    )
    import_jobs.create(job)
    logger.info("import job created", extra={"import_id": import_id})
    return StartedImport(import_id, import_files.upload_url(import_id, UPLOAD_URL_SECONDS), UPLOAD_URL_SECONDS)


@dataclass(frozen=True)
class ImportView:
    job: ImportJob
    report_url: str | None
    report_expires_in: int | None


def get_import(raw_id: str) -> ImportView:
    """The job as stored (one GetItem), a running job Lambda gave up shown as failed, and its
    report's URL once there is one."""
    import_id = raw_id.strip().lower()
    if not import_files.IMPORT_ID.match(import_id):
        problem = "import_id is the 32 hexadecimal characters POST /admin/imports returned"
        raise ValidationFailed(details={"fields": [{"field": "import_id", "problem": problem}]})
    audit.note_import(import_id)
    job = import_jobs.get(import_id)
    if job is None or job.expires_at < clock.now():
        raise ImportNotFound()
    if job.status == "running" and 0 < job.lease_until < clock.now() - ABANDONED_AFTER_SECONDS:
        job.status, job.error_code = "failed", "IMPORT_ABANDONED"
        job.error_message = "the import function failed every retry; start a new import of the same file"
    if job.report_key is None:
        return ImportView(job, None, None)
    return ImportView(job, import_files.report_url(job.report_key, REPORT_URL_SECONDS), REPORT_URL_SECONDS)


# ---------------------------------------------------------------- running
class _Report:
    """The report's rows since the last save, as CSV text."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer)

    def add(self, line: int, phone: str | None, outcome: Outcome) -> None:
        rejected = not isinstance(outcome, str)
        reason = str(outcome) if rejected else ""
        self.writer.writerow([line, mask_phone(phone) if phone else "", "rejected" if rejected else outcome, reason])

    def take(self) -> str:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text


class _Job:
    """One invocation's hold on a job: its rows, its saves, its hand-off."""

    def __init__(self, job: ImportJob, run_id: str, time_left: Callable[[], float]) -> None:
        self.job, self.run_id, self.time_left = job, run_id, time_left
        self.report = _Report()
        self.result = ImportReport(
            created=job.counts["created"],
            updated=job.counts["updated"],
            unchanged=job.counts["unchanged"],
            rejected=job.counts["rejected"],
        )
        self.last_saved = time.monotonic()

    def row_done(self, line: int, phone: str | None, outcome: Outcome) -> None:
        self.report.add(line, phone, outcome)

    def batch_done(self, last_line: int) -> None:
        self.job.position = last_line
        if time.monotonic() - self.last_saved >= SAVE_SECONDS:
            self.save()

    def _write_part(self) -> None:
        """The report's rows since the last part as a new part, and the counts they make."""
        text = self.report.take()
        if text:
            import_files.put_part(self.job.import_id, self.job.parts, text)
            self.job.parts += 1
        self.job.counts = {name: getattr(self.result, name) for name in import_jobs.OUTCOMES}
        self.job.rows = sum(self.job.counts.values())

    def save(self) -> None:
        """The report's new rows as a part, then the job's position and counts (a retry after
        a crash between the two writes the same part again)."""
        self._write_part()
        import_jobs.save(self.job, self.run_id)
        self.last_saved = time.monotonic()

    def should_stop(self) -> bool:
        return self.time_left() < STOP_MARGIN_SECONDS

    def hand_off(self) -> None:
        """Save (one write with the release) and leave the marker that invokes the next segment."""
        self._write_part()
        import_jobs.hand_off(self.job, self.run_id)
        import_files.put_resume_marker(self.job.import_id, self.job.segment + 1)
        logger.info(
            "import handed off",
            extra={"import_id": self.job.import_id, "position": self.job.position, "segment": self.job.segment + 1},
        )

    def finish(self, *, error: tuple[str, str] | None = None) -> None:
        self._write_part()
        if self.job.parts:
            self.job.report_key = import_files.join_parts(self.job.import_id, self.job.parts, REPORT_HEADER)
            self.job.parts = 0
        self.job.status = "failed" if error else "done"
        if error:
            self.job.error_code, self.job.error_message = error
        import_jobs.finish(self.job, self.run_id, now_iso=clock.iso(clock.now()))
        _log_end(self.job)


def _log_end(job: ImportJob) -> None:
    logger.info(
        "import finished",
        extra={
            "import_id": job.import_id,
            "principal_arn": job.principal_arn,
            "status": job.status,
            "counts": job.counts,
            "error_code": job.error_code,
        },
    )
    metrics.count("ImportRows", job.rows)
    metrics.count("ImportsFinished", status=job.status)


def _fail_waiting(job: ImportJob, code: str, message: str) -> None:
    job.status, job.error_code, job.error_message = "failed", code, message
    try:
        import_jobs.finish(job, None, now_iso=clock.iso(clock.now()))
    except JobLost:
        return  # claimed or failed meanwhile by another delivery
    _log_end(job)


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class ObjectCreated:
    """An S3 "Object Created" event as EventBridge delivers it: which object, its size and ETag."""

    bucket: str
    key: str
    size: int
    etag: str

    @classmethod
    def of(cls, event: dict[str, Any]) -> ObjectCreated:
        detail = _mapping(event.get("detail"))
        bucket, obj = _mapping(detail.get("bucket")), _mapping(detail.get("object"))
        size = obj.get("size")
        return cls(
            bucket=str(bucket.get("name", "")),
            key=str(obj.get("key", "")),
            size=size if isinstance(size, int) else 0,
            etag=str(obj.get("etag") or obj.get("eTag") or "").strip('"'),
        )


def run_import(created: ObjectCreated, context: Any) -> None:
    """Import the upload (or go on with it) that the event names, within the invocation's
    time (``context``). Events for another bucket or key, for an unknown job, or that another
    invocation already took are ignored (logged): S3 and EventBridge deliver at least once."""

    def time_left() -> float:
        return float(context.get_remaining_time_in_millis()) / 1000

    # Lambda's retry of an invocation keeps its request id: the token tells the two apart.
    run_id = f"{getattr(context, 'aws_request_id', '')}/{secrets.token_hex(4)}"
    bucket, key, size, etag = created.bucket, created.key, created.size, created.etag
    found = import_files.object_of(key)
    if bucket != get_settings().import_bucket_name or found is None:
        logger.warning("not an import object: ignored", extra={"key": key[:200]})
        return
    import_id, segment = found
    job = import_jobs.get(import_id)
    if job is None:
        logger.warning("upload for no import job: ignored", extra={"import_id": import_id})
        return
    if segment == 0 and job.status == "waiting" and size > MAX_FILE_BYTES:
        _fail_waiting(job, "IMPORT_FILE_TOO_LARGE", f"the file is larger than {MAX_FILE_BYTES // (1 << 20)} MB")
        return
    upload_etag = etag if segment == 0 else (job.etag or "")
    now = int(clock.now())
    try:
        job = import_jobs.claim(
            import_id,
            segment=segment,
            etag=upload_etag,
            run_id=run_id,
            lease_until=now + int(time_left()) + 1,
            now=now,
            now_iso=clock.iso(clock.now()),
        )
    except JobNotClaimable:
        _mend_hand_off(import_id, segment)
        return
    holder = _Job(job, run_id, time_left)
    try:
        _run(holder)
    except JobLost:
        logger.warning("import job taken over by another invocation", extra={"import_id": import_id})
    except BaseException:
        import_jobs.release(import_id, run_id)  # Lambda's retry resumes after the last saved line
        raise


def _mend_hand_off(import_id: str, segment: int) -> None:
    """An event that cannot claim its job is a second delivery, unless it is Lambda's retry of an
    invocation that handed the job off and failed before its marker was written: then the job
    waits, released, at the next segment, and the marker is written now (a marker too many is
    harmless: only one claim holds)."""
    job = import_jobs.get(import_id)
    if job is not None and job.status == "running" and job.segment == segment + 1 and job.lease_until < clock.now():
        import_files.put_resume_marker(import_id, job.segment)
        logger.info("import hand-off mended", extra={"import_id": import_id, "segment": job.segment})
        return
    logger.info("import job not claimable: ignored", extra={"import_id": import_id, "segment": segment})


def _run(holder: _Job) -> None:
    """Read the upload from the job's position on; finish, or hand off when time runs short.
    A file that cannot be read as an import fails the job (its report has the rows done); a
    DynamoDB failure raises, so Lambda's retry resumes after the last save."""
    job = holder.job
    settings = get_settings()
    with tempfile.TemporaryDirectory(prefix="import-") as directory:
        path = Path(directory) / "upload.csv"
        try:
            import_files.download_upload(job.import_id, path, etag=job.etag or "")
        except import_files.UploadChanged:
            holder.finish(error=("IMPORT_UPLOAD_CHANGED", "the file was replaced while it was imported"))
            return
        run: Run | None = None
        completed = False
        try:
            delimiter = sniff_delimiter(path)
            records = read_records(path, delimiter)
            first = next(records, None)
            if first is None or first[0] != 1:
                raise ImportFailed("the first line must be the header row (phone,...)")
            validator = Validator(header(first[1]), settings.default_region)
            run = Run(
                settings.users_table_name,
                import_dynamodb(),
                bcrypt_rounds=settings.bcrypt_rounds,
                dry_run=False,
                result=holder.result,
                say=lambda line: None,  # the report has every row
                meter=_NoProgress(),
                on_row=holder.row_done,
                on_batch=holder.batch_done,
            )
            completed = feed(records, validator, run, after_line=job.position, stop=holder.should_stop)
        except ImportFailed as exc:
            if run is not None:
                run.close(failed=True)
            holder.finish(error=("IMPORT_FILE_INVALID", _without_path(str(exc), path)))
            return
        except BaseException:
            if run is not None:
                run.close(failed=True)
            raise
        run.close(failed=False)
        if completed:
            holder.finish()
        else:
            holder.hand_off()


class _NoProgress:
    def update(self, done: int, counts: str) -> None:
        """The job's rows and counts are its progress (GET /admin/imports/{import_id})."""


def _without_path(message: str, path: Path) -> str:
    """A reading error names the temporary file: name the upload instead."""
    return message.replace(f"{path}: ", "").replace(str(path), "the file")
