"""An import job on the local stack with the real functions, as the back office runs one: POST
/admin/imports, PUT the file to the pre-signed URL from outside, S3 -> EventBridge -> the import
function, GET /admin/imports/{import_id}, the report through its pre-signed URL.
"""

from __future__ import annotations

import urllib.request

from devtools.local_stack import LocalStack
from tests.helpers.stack import signed_fetch


def test_an_upload_through_the_presigned_url_is_imported_and_reported(stack: LocalStack) -> None:
    status, _, started = signed_fetch(stack, "POST", "/admin/imports", {"file_name": "users.csv"})
    assert status == 201, started
    data = b"phone,password\n+66812345670,Sunflower-Rain-2026\n0812345671,\nnot a phone,\n"
    # No Content-Type: urllib sends a form's, as curl --data-binary does; S3 stores the bytes all the same.
    request = urllib.request.Request(started["upload_url"], data=data, method="PUT")  # noqa: S310 - moto's URL
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        assert answer.status == 200
    stack.deliver_events()

    status, _, body = signed_fetch(stack, "GET", f"/admin/imports/{started['import_id']}")
    assert status == 200, body
    job = body["import"]
    assert (job["status"], job["rows"], job["file_name"]) == ("done", 3, "users.csv")
    assert job["counts"] == {"created": 2, "updated": 0, "unchanged": 0, "rejected": 1}
    with urllib.request.urlopen(job["report_url"], timeout=30) as answer:  # noqa: S310
        report = answer.read().decode().splitlines()
    assert report[0] == "line,phone,outcome,reason"
    assert [line.split(",")[2] for line in report[1:]] == ["created", "created", "rejected"]
