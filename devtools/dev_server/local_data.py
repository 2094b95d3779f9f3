"""The local stack's data kept across restarts, in ``local-data/<config env>/`` (ignored by git).

Kept: every table's items as DynamoDB JSON (``UsersTable.json``, ``OtpTable.json``: users and their
codes), the JWT secret (``jwt-secret``, so tokens survive a restart), the SMS outbox
(``sms.json``) and the lifecycle events published (``events.json``). At start they are put back
before the first request. Then a thread looks every ``interval`` seconds and rewrites a file only
when its content changed, and the stop writes once more, so whatever reaches moto (the API,
``make import``, the users panel) is kept, the last seconds before a kill -9 excepted.
``fresh=True`` (``make run FRESH=1``) deletes the folder first. Not kept: the import bucket's
objects (uploads and reports), so a kept import job's ``report_url`` answers ``NoSuchKey`` after
a restart.

Each config env has its own folder: ``make run ENV=th-dev`` does not see the default env's users.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
from dataclasses import asdict
from itertools import batched
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from devtools.local_stack.backend import SmsMessage

if TYPE_CHECKING:
    from devtools.local_stack.stack import LocalStack

__all__ = ["LocalData"]

SECRET_FILE = "jwt-secret"  # noqa: S105 - a file name
OUTBOX_FILE = "sms.json"
EVENTS_FILE = "events.json"


class LocalData:
    """Puts a stack's data back at start, and keeps writing it while the stack runs."""

    def __init__(self, directory: Path, *, fresh: bool = False, interval: float = 2.0) -> None:
        self.directory, self.fresh, self.interval = directory, fresh, interval
        self.stack: LocalStack | None = None
        self._written: dict[str, str] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._failed = False

    def setup(self, stack: LocalStack) -> list[str]:
        """Delete (fresh) or read back the folder, write what is missing, start the saver; banner lines."""
        self.stack = stack
        if self.fresh:
            shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True, exist_ok=True)
        kept = self._restore(stack)
        self.save()
        self._thread = threading.Thread(target=self._run, name="local-data", daemon=True)
        self._thread.start()
        where = self.directory.resolve()
        where = where.relative_to(Path.cwd()) if where.is_relative_to(Path.cwd()) else where
        told = f"kept {', '.join(kept)}" if kept else "empty"
        return [f"  Data    {where}/ ({told}); saved while running, FRESH=1 starts empty"]

    def stop(self) -> None:
        """Stop the saver and write a last time (moto is still up)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        self.save()

    def save(self) -> None:
        """Write every file whose content changed since it was last written or read."""
        stack = self.stack
        assert stack is not None, "setup() first"
        with self._lock:
            dynamodb = boto3.session.Session().client("dynamodb")
            contents: dict[str, Any] = {}
            for logical_id, name in stack.table_names.items():
                pages = dynamodb.get_paginator("scan").paginate(TableName=name, ConsistentRead=True)
                items = [item for page in pages for item in page.get("Items", [])]
                contents[f"{logical_id}.json"] = sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
            contents[OUTBOX_FILE] = [asdict(message) for message in stack.sms()]
            contents[EVENTS_FILE] = stack.events()
            for filename, content in contents.items():
                self._write(filename, json.dumps(content, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
            if SECRET_FILE not in self._written:
                ssm = boto3.session.Session().client("ssm")
                secret = ssm.get_parameter(Name=self._secret_name(), WithDecryption=True)["Parameter"]["Value"]
                self._write(SECRET_FILE, secret)

    def _restore(self, stack: LocalStack) -> list[str]:
        """Put the folder's data into the fresh tables, SSM and the outbox; what was put back."""
        kept, dynamodb = [], boto3.session.Session().client("dynamodb")
        for logical_id, name in stack.table_names.items():
            items = self._read(f"{logical_id}.json")
            for chunk in batched(items or [], 25, strict=False):
                requests: dict[str, Any] = {name: [{"PutRequest": {"Item": item}} for item in chunk]}
                while requests:
                    requests = dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
            if items:
                kept.append(f"{logical_id} ({len(items)})")
        secret = self._read(SECRET_FILE, parse=False)
        if secret:
            ssm = boto3.session.Session().client("ssm")
            ssm.put_parameter(Name=self._secret_name(), Type="SecureString", Value=secret, Overwrite=True)
            kept.append("the JWT secret")
        messages = self._read(OUTBOX_FILE)
        if messages:
            stack.gateway.outbox.restore([SmsMessage(**message) for message in messages])
            kept.append(f"{len(messages)} SMS")
        events = self._read(EVENTS_FILE)
        if events:
            stack.lifecycle.restore(events)
            kept.append(f"{len(events)} events")
        return kept

    def _read(self, filename: str, *, parse: bool = True) -> Any:
        """A file's content (None when absent); one that cannot be read is set aside as ``<name>.unreadable``."""
        path = self.directory / filename
        if not path.is_file():
            return None
        try:
            text = path.read_text(encoding="utf-8")
            content = json.loads(text) if parse else text.strip()
        except (OSError, ValueError) as exc:
            self._log(f"local data: {path} cannot be read ({exc}); set aside as {filename}.unreadable")
            path.replace(path.with_name(filename + ".unreadable"))
            return None
        self._written[filename] = text
        return content

    def _write(self, filename: str, text: str) -> None:
        """Replace the file in one rename, so a crash leaves the old or the new version, never half of one."""
        if self._written.get(filename) == text:
            return
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=f".{filename}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(temporary, self.directory / filename)  # mkstemp's 0600 suits the secret
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        self._written[filename] = text

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.save()
                self._failed = False
            except Exception as exc:  # keep serving; say it once, not every interval
                if not self._failed:
                    self._log(f"local data: saving to {self.directory} failed ({type(exc).__name__}: {exc})")
                self._failed = True

    def _secret_name(self) -> str:
        assert self.stack is not None
        return self.stack.model.environment["JWT_SECRET_PARAMETER_NAME"]

    def _log(self, line: str) -> None:
        if self.stack is not None:
            self.stack.gateway.log(line)
