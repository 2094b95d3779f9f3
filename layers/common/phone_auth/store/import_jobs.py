"""Import jobs in the import jobs table: one item per job, every change one conditional write.

A job is ``waiting`` for its upload, ``running`` while an invocation of the import function
holds it, then ``done`` or ``failed``. An invocation *claims* the job before it reads a row:

- the upload's event claims a ``waiting`` job (segment 0);
- the marker a stopping invocation leaves claims the job at the segment the marker names,
  once the invocation that wrote it released the job (``hand_off``);
- Lambda retrying a crashed invocation claims it again at the same segment once the crashed
  one's lease (its deadline) has passed, and resumes after the last saved line.

Every later write (``save``, ``hand_off``, ``finish``, ``release``) holds only while the job
is still the claiming invocation's (its ``run_id``), so an event delivered twice (S3 and
EventBridge deliver at least once) never runs a job twice at the same time.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from phone_auth import clock
from phone_auth.settings import get_settings
from phone_auth.store.calls import ConditionFailed, call
from phone_auth.store.marshalling import Item, from_item, to_item, to_values

Status = Literal["waiting", "running", "done", "failed"]
OUTCOMES = ("created", "updated", "unchanged", "rejected")


class JobNotClaimable(Exception):
    """The job is not there, not waiting, or held by another invocation."""


class JobLost(Exception):
    """The job is no longer this invocation's (another claimed it after the lease ran out)."""


@dataclass
class ImportJob:
    import_id: str
    status: Status
    created_at: str
    expires_at: int  # epoch seconds: the table's TTL, the bucket's expiry
    upload_key: str
    principal_arn: str
    file_name: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    #: The last line of the file whose row is done (0: none yet).
    position: int = 0
    rows: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    #: Report parts saved so far (reports/<id>/part-NNNNN.csv), and the whole report once done.
    parts: int = 0
    report_key: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    #: The upload's ETag when the job was claimed: a resumed run reads that same file.
    etag: str | None = None
    #: Which invocation holds the job, and until when (epoch seconds; in the past: released).
    segment: int = 0
    run_id: str | None = None
    lease_until: int = 0

    def to_item(self) -> dict[str, Any]:
        item = {name: value for name, value in vars(self).items() if value is not None}
        item["counts"] = dict(self.counts)
        return item

    @classmethod
    def from_item(cls, item: Item) -> ImportJob:
        known = set(cls.__dataclass_fields__)
        values: dict[str, Any] = {name: value for name, value in item.items() if name in known}
        for name in ("expires_at", "position", "rows", "parts", "segment", "lease_until"):
            if name in values:
                values[name] = int(values[name])
        values["counts"] = {outcome: int((item.get("counts") or {}).get(outcome, 0)) for outcome in OUTCOMES}
        return cls(**values)


def _table() -> str:
    return get_settings().import_jobs_table_name


def _key(import_id: str) -> dict[str, Any]:
    return {"import_id": {"S": import_id}}


def create(job: ImportJob) -> None:
    """Store a new job (a fresh random id: the condition only guards against reuse)."""
    call(
        "put_item",
        TableName=_table(),
        Item=to_item(job.to_item()),
        ConditionExpression="attribute_not_exists(import_id)",
    )


def get(import_id: str) -> ImportJob | None:
    """The job as stored now: one strongly consistent GetItem."""
    item = from_item(call("get_item", TableName=_table(), Key=_key(import_id), ConsistentRead=True).get("Item"))
    return ImportJob.from_item(item) if item is not None else None


def _update(
    import_id: str,
    sets: dict[str, Any],
    condition: str,
    values: dict[str, Any],
    *,
    unless_set: dict[str, Any] | None = None,
) -> ImportJob:
    """One conditional UpdateItem setting ``sets``, and ``unless_set`` where the job has no value
    yet; JobNotClaimable when ``condition`` does not hold. Returns the job as now stored."""
    clauses = [f"#{name} = :{name}" for name in sets]
    clauses += [f"#{name} = if_not_exists(#{name}, :{name})" for name in unless_set or {}]
    expression = "SET " + ", ".join(clauses)
    names = {f"#{name}": name for name in re.findall(r"#(\w+)", expression + " " + condition)}
    try:
        response = call(
            "update_item",
            TableName=_table(),
            Key=_key(import_id),
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_values(
                {f":{name}": value for name, value in (sets | (unless_set or {})).items()} | values
            ),
            ReturnValues="ALL_NEW",
        )
    except ConditionFailed:
        raise JobNotClaimable() from None
    return ImportJob.from_item(from_item(response["Attributes"]) or {})


def claim(
    import_id: str, *, segment: int, etag: str, run_id: str, lease_until: int, now: int, now_iso: str
) -> ImportJob:
    """Hold the job for this invocation until ``lease_until``: a waiting job (segment 0, the
    upload's event), or a running one at ``segment`` whose lease has run out or was released.
    JobNotClaimable otherwise (a second delivery of the same event, another upload, a job
    already done)."""
    sets: dict[str, Any] = {"status": "running", "run_id": run_id, "lease_until": lease_until, "segment": segment}
    if segment == 0:
        sets["etag"] = etag
    condition = (
        "attribute_exists(import_id) AND ((#status = :waiting AND :segment = :zero)"
        " OR (#status = :running AND #segment = :segment AND #lease_until < :now AND #etag = :etag))"
    )
    values = {":waiting": "waiting", ":running": "running", ":zero": 0, ":now": now, ":etag": etag}
    return _update(import_id, sets, condition, values, unless_set={"started_at": now_iso})


def _progress(job: ImportJob) -> dict[str, Any]:
    """Where the job is: its position, rows, counts and report parts."""
    return {"position": job.position, "rows": job.rows, "counts": dict(job.counts), "parts": job.parts}


def _update_held(import_id: str, run_id: str, sets: dict[str, Any]) -> None:
    """Write ``sets`` only while the job is still running as ``run_id``'s (JobLost otherwise)."""
    try:
        _update(import_id, sets, "#status = :running AND #run_id = :me", {":running": "running", ":me": run_id})
    except JobNotClaimable:
        raise JobLost() from None


def save(job: ImportJob, run_id: str) -> None:
    """Save where the job is (JobLost if it is not ours any more)."""
    _update_held(job.import_id, run_id, _progress(job))


def _released() -> int:
    """A lease that has run out: claimable at once, and dated (a job nobody claims again is
    shown as abandoned an hour later)."""
    return int(clock.now()) - 1


def hand_off(job: ImportJob, run_id: str) -> None:
    """Save the job and release it to the next segment's invocation (its marker follows)."""
    _update_held(job.import_id, run_id, _progress(job) | {"segment": job.segment + 1, "lease_until": _released()})


def release(import_id: str, run_id: str) -> None:
    """Let a retry of this invocation claim the job at once (the invocation is failing)."""
    with contextlib.suppress(JobLost):
        _update_held(import_id, run_id, {"lease_until": _released()})


def finish(job: ImportJob, run_id: str | None, *, now_iso: str) -> None:
    """The job is ``done`` or ``failed`` (as ``job.status`` says), with its counts and report.
    ``run_id`` None: a job failed before any invocation claimed it (still waiting)."""
    sets: dict[str, Any] = {"status": job.status, "finished_at": now_iso, "lease_until": _released()}
    sets |= _progress(job)
    for name in ("report_key", "error_code", "error_message"):
        if getattr(job, name) is not None:
            sets[name] = getattr(job, name)
    if run_id is not None:
        _update_held(job.import_id, run_id, sets)
        return
    try:
        _update(job.import_id, sets, "#status = :waiting", {":waiting": "waiting"})
    except JobNotClaimable:
        raise JobLost() from None
