"""Import back-office users from a CSV file into the users table.

Usage::

    python -m ops.import_users FILE [--table NAME | --stack STACK_NAME | --local [URL]] [--region R]
        [--profile P] [--endpoint-url URL] [--default-region TH] [--bcrypt-rounds 12] [--dry-run]

The table is --table, else the ``UsersTableName`` output of CloudFormation stack --stack,
else the running local stack's table with --local (found through its ``/_local/info``
at http://127.0.0.1:$PORT, default port 3000), else the USERS_TABLE_NAME environment
variable. ``make import FILE=...`` uses --stack STACK when given, else --local on PORT.

The file: UTF-8 (a BOM is fine), a header row, one user per row, columns separated by
commas, semicolons or tabs (whichever splits the header line). Header names are matched
in any case, with aliases:

- ``phone`` (required; or ``mobile``, ``mobile_phone``, ``MobilePhone``, ``mobilePhone``):
  any common format, read like the API reads it (national numbers in --default-region,
  TH: 081-234-5678 -> +66812345678).
- ``password_hash`` (optional; or ``PasswordHash``): an existing bcrypt hash
  ($2a$/$2b$/$2y$), stored as is.
- ``password`` (optional): a plaintext password, checked against the API's password
  policy and stored only as a bcrypt hash (cost --bcrypt-rounds). Never printed.
  A row may not give both.
- every other non-empty column is a profile field (returned by the API as user.profile).

Rules:

- Idempotent: a second run of the same file writes nothing and reports every row unchanged.
- A password the user already has is never replaced: a row's password or password_hash
  applies only to a user without one (so a user who registered keeps their password; a
  plaintext column is therefore never re-hashed once stored).
- New users are ``phone_auth.store.records.UserRecord``s (the shape sign-in writes too):
  a fresh uuid4 id, not active, not verified, session_epoch 0, source "import", the
  row's profile. Existing users: only the profile fields of the file (set one by one;
  fields the file does not name are kept) and the password when they have none;
  updated_at moves only when something changed.
- Every write is conditional (create only if the phone is free, set a password only if
  there is none), so a user who signs up while the import runs is never overwritten; on a
  condition failure the row is re-read and computed once more.
- Batches of 100 rows: one BatchGetItem (strongly consistent), then the batch's writes
  on a small thread pool (DynamoDB has no conditional batch write). Plaintext passwords
  are hashed on one thread per core (bcrypt releases the GIL), only for users who need a
  password, while the next batch is read and written.
- A bad row is skipped and reported as ``row N: reason`` (N = line in the file, the
  header is line 1); the run goes on. Phones never appear in full in the output.
- Output: rejection lines and ONE summary line ``created=X updated=Y unchanged=Z
  rejected=W`` on stdout. Progress on stderr: rows done out of the file's rows, rows per
  second and the time left (ETA), as one line rewritten in place on a terminal, as a plain
  line every 10 seconds otherwise.
- --dry-run reads the table, checks and counts the same way but writes nothing. Without
  a table (none given, or --local with no local stack running) it checks the rows only
  and says so: ``valid=X rejected=W (dry run without a table: rows checked only, not
  compared with existing users)``.
- Exit code: 0 when no row was rejected, 2 when some were (the run then ends with a
  sentence on stderr: "2 rows were rejected (listed above); the other 4 rows were
  imported. ..."), 1 on a fatal error (missing file or table, no access, a malformed
  header).

The modules: ``reading`` (the file, its header and each row's checks), ``writing`` (what
each row changes, and the run), ``hashing`` (bcrypt on every core), ``store`` (the
importer's DynamoDB calls and their errors), ``progress`` (rows/s and time left),
``report`` (the counts and the fatal error), ``cli`` (the command line).

devtools/sample_users.csv (for the local stack): six rows, five demo users and one bad row:

- line 2 +66811112222 and line 3 0620001111 (national format): no password, they register
  by SMS code (check-mobile -> request/verify-registration-otp -> complete-registration);
- line 4 +66891234567: plaintext demo password ``Siam-demo-2468`` (demo only!);
- line 5 +66898887777: a bcrypt hash (cost 12) of ``Bangkok-demo-1357``;
- line 6 089-765-4321 (national format with dashes): no password;
- line 7 ``12345``: not a phone number, so the report shows ``row 7: ...`` and exit code 2.
"""

from ops.import_users.cli import main
from ops.import_users.report import ImportFailed, ImportReport
from ops.import_users.writing import import_file

__all__ = ["ImportFailed", "ImportReport", "import_file", "main"]
