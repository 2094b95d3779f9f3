"""Import back-office users from a CSV file: ``python -m ops.import_users FILE`` (``make import``;
``--help`` lists the options), in one of two modes:

- through a stack's admin API (``remote``): ``--stack NAME`` (its ``AdminApiUrl`` output),
  ``--admin-api URL`` or ``--local [URL] --via-api``: an import job (``POST /admin/imports``,
  the file PUT to its pre-signed URL, the job followed until it ends, its report's rejected rows
  printed). The operator needs only ``execute-api:Invoke`` (docs/back-office.md);
- direct (``writing``): ``--table``, else the running local stack's table (``--local``, through
  its ``/_local/info``), else ``$USERS_TABLE_NAME``: the operator's DynamoDB client writes.

docs/development.md#importing-users describes the file (a header row, a phone column, a bcrypt
``password_hash`` or a plaintext ``password``, profile columns) and the run (idempotent, never
replacing a password the user has, every write conditional, batches of 100, bcrypt on every core,
bad rows reported by line, progress on stderr, exit code 0, 2 or 1). Besides:

- New users are ``phone_auth.store.records.UserRecord``s, the shape sign-in writes too: a fresh
  uuid4 id, not active, not verified, session_epoch 0, source "import", the row's profile.
- An existing user gets only the profile fields the file names (set one by one; the others are
  kept) and the row's password when it has none; updated_at moves only when something changed.
- A row may not give both a password and a hash. Phones never appear in full in the output.

The run itself is the layer's, shared with the admin API's import jobs
(``phone_auth.user_import``: ``reading`` the file, its header and each row's checks, ``run``
what each row changes and the writes, ``hashing`` bcrypt on every core, ``report`` the counts
and the fatal error; ``phone_auth.store.imports`` the DynamoDB calls). Here: ``writing`` (one
file's run on the operator's client), ``remote`` (one file's run through the admin API),
``progress`` (rows/s and time left), ``cli`` (the command line).
"""

from ops.import_users.cli import main
from ops.import_users.remote import AdminApi, import_file_via_api
from ops.import_users.writing import import_file
from phone_auth.user_import.report import ImportFailed, ImportReport

__all__ = ["AdminApi", "ImportFailed", "ImportReport", "import_file", "import_file_via_api", "main"]
