"""What make run serves besides the API (devtools.dev_server): pages, docs, /_local routes, kept data, make invoke.

Stacks start in-process, one at a time, like tests/stack/test_local_stack.py. Kept data goes to
pytest's tmp_path, never to local-data/.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
import urllib.parse
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.dev_server import DevServer, LocalData, invoke
from devtools.dev_server.__main__ import main as run_main
from devtools.dev_server.site import DOCS_PAGE
from devtools.local_stack import LocalStack, start
from ops import import_users
from tests.helpers import sign_in
from tests.helpers.stack import StackApi, fetch

ROOT = Path(__file__).resolve().parents[2]
PHONE = "+66812345678"


def assert_not_found(status: int, headers: dict[str, str], raw: bytes) -> None:
    assert status == 404
    assert headers["content-type"].startswith("application/json")
    assert json.loads(raw)["error"]["code"] == "NOT_FOUND"


# ---------------------------------------------------------------------------- the reference client and docs
@pytest.fixture(scope="class")
def site_stack() -> Iterator[LocalStack]:
    stack = start(port=0, echo=False, import_sample_users=False, extension=DevServer())
    try:
        yield stack
    finally:
        stack.stop()


class TestSite:
    def test_root_is_the_reference_client(self, site_stack: LocalStack) -> None:
        status, headers, raw = fetch(site_stack, "GET", "/")
        assert status == 200
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert raw == (ROOT / "web" / "index.html").read_bytes()

    def test_every_file_of_the_client_is_served_with_its_type(self, site_stack: LocalStack) -> None:
        kinds = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
        for file in sorted((ROOT / "web").iterdir()):
            status, headers, raw = fetch(site_stack, "GET", f"/{file.name}")
            assert status == 200, file.name
            assert headers["content-type"].startswith(kinds[file.suffix]), file.name
            assert raw == file.read_bytes()

    def test_the_client_reads_its_api_base_url_from_one_setting(self) -> None:
        config = (ROOT / "web" / "config.js").read_text()
        assert re.findall(r"^export const (\w+)", config, re.MULTILINE) == ["API_BASE_URL"]
        for file in (ROOT / "web").glob("*.js"):
            assert "/api/v1" not in file.read_text() or file.name == "config.js", file.name

    def test_the_client_is_also_under_local_web(self, site_stack: LocalStack) -> None:
        status, headers, _ = fetch(site_stack, "GET", "/_local/web")
        assert (status, headers["location"]) == (301, "/_local/web/")
        assert fetch(site_stack, "GET", "/_local/web/")[2] == (ROOT / "web" / "index.html").read_bytes()
        assert fetch(site_stack, "GET", "/_local/web/app.js")[0] == 200

    def test_the_docs_page_loads_swagger_ui_from_the_stack_not_a_cdn(self, site_stack: LocalStack) -> None:
        status, headers, raw = fetch(site_stack, "GET", "/docs")
        assert status == 200 and headers["content-type"].startswith("text/html")
        assert raw.decode() == DOCS_PAGE
        assert not re.search(r"https?://", DOCS_PAGE)
        for asset in re.findall(r'(?:src|href)="(/docs/[^"]+)"', DOCS_PAGE):
            status, headers, raw = fetch(site_stack, "GET", asset)
            assert status == 200 and len(raw) > 1000, asset

    def test_openapi_json_is_the_committed_document_served_by_this_stack(self, site_stack: LocalStack) -> None:
        status, _, raw = fetch(site_stack, "GET", "/openapi.json")
        served, committed = json.loads(raw), json.loads((ROOT / "openapi.json").read_text())
        assert status == 200
        assert served["servers"][0]["url"] == site_stack.url
        assert {k: v for k, v in served.items() if k != "servers"} == {
            k: v for k, v in committed.items() if k != "servers"
        }
        # "Try it out" sends server URL + path: that reaches the function.
        path = urllib.parse.urlsplit(served["servers"][0]["url"]).path + "/auth/check-mobile"
        _, _, raw = fetch(site_stack, "POST", path, {"phone": PHONE})
        assert json.loads(raw)["success"] is True

    @pytest.mark.parametrize("path", ["/../pyproject.toml", "/%2e%2e/pyproject.toml", "/web/../README.md", "/x/../../"])
    def test_nothing_outside_the_folder_is_served(self, site_stack: LocalStack, path: str) -> None:
        assert_not_found(*fetch(site_stack, "GET", path, headers={"Accept": "application/json"}))

    def test_a_missing_file_is_the_gateways_json_404(self, site_stack: LocalStack) -> None:
        assert_not_found(*fetch(site_stack, "GET", "/nope.js"))
        assert_not_found(*fetch(site_stack, "POST", "/index.html", {}))

    def test_api_paths_always_reach_the_gateway(self, site_stack: LocalStack) -> None:
        browser = {"Accept": "text/html"}
        assert_not_found(*fetch(site_stack, "GET", "/api/v1/auth/check-mobile", headers=browser))  # a POST route
        assert StackApi(site_stack, "/api/v1").call("check_mobile", {"phone": PHONE})[0] == 200

    def test_local_routes_answer_every_allowed_origin(self, site_stack: LocalStack) -> None:
        origin = {"Origin": "http://127.0.0.1:5173"}
        status, headers, _ = fetch(site_stack, "OPTIONS", "/_local/users", headers=origin)
        assert status == 204
        assert headers["access-control-allow-origin"] == "http://127.0.0.1:5173"
        assert "DELETE" in headers["access-control-allow-methods"]
        for path in ("/_local/sms", "/_local/users", "/_local/health"):
            status, headers, _ = fetch(site_stack, "GET", path, headers=origin)
            assert (status, headers["access-control-allow-origin"]) == (200, "http://127.0.0.1:5173"), path
        _, headers, _ = fetch(site_stack, "GET", "/_local/sms", headers={"Origin": "https://evil.test"})
        assert "access-control-allow-origin" not in headers

    @pytest.mark.parametrize(
        "host",
        [
            "attacker.example",
            "attacker.example:{port}",
            "127.0.0.1.nip.io:{port}",
            "localhost.attacker.example:{port}",
            "localhost:{other}",
            "127.0.0.1:{other}",
            "0.0.0.0:{port}",
            "[::2]:{port}",
            "",
        ],
    )
    def test_a_host_that_does_not_name_this_loopback_stack_is_refused(self, site_stack: LocalStack, host: str) -> None:
        """A DNS-rebinding page reaches the stack under its own name: it gets 403 and nothing else,
        neither the outbox's codes nor the moto endpoint that holds the key set."""
        host = host.format(port=site_stack.port, other=site_stack.port + 1)
        sign_in(StackApi(site_stack, "/api/v1"), f"+668456{zlib.crc32(host.encode()) % 100000:05d}")  # a user, a code
        for method, path in [
            ("GET", "/_local/sms"),
            ("GET", "/_local/info"),
            ("GET", "/_local/users"),
            ("DELETE", "/_local/users"),
            ("GET", "/_local/health"),
            ("GET", "/"),
            ("GET", "/openapi.json"),
            ("POST", "/api/v1/auth/check-mobile"),
        ]:
            status, headers, raw = fetch(site_stack, method, path, {} if method == "POST" else None, {"Host": host})
            assert status == 403, (method, path)
            assert headers["content-type"].startswith("application/json")
            assert "moto" not in raw.decode() and "+668" not in raw.decode(), (method, path)
        assert json.loads(fetch(site_stack, "GET", "/_local/users")[2]), "the refused DELETE deleted nothing"

    @pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LocalHost:{port}", "[::1]:{port}"])
    def test_every_loopback_name_with_the_stacks_port_is_served(self, site_stack: LocalStack, host: str) -> None:
        headers = {"Host": host.format(port=site_stack.port)}
        assert fetch(site_stack, "GET", "/_local/health", headers=headers)[0] == 200
        assert fetch(site_stack, "GET", "/", headers=headers)[0] == 200

    @pytest.mark.parametrize(
        "path", ["/%00", "/%00.js", "/index.html%00", "/_local/%00", "/_local/web/%00", "/docs/%00", "/%ff", "/%c0%af"]
    )
    def test_a_nul_or_undecodable_path_is_a_404(self, site_stack: LocalStack, path: str) -> None:
        assert_not_found(*fetch(site_stack, "GET", path))
        assert_not_found(*fetch(site_stack, "GET", "/api/v1/auth" + path))

    def test_the_users_route_lists_users_without_stored_hashes(self, site_stack: LocalStack, tmp_path: Path) -> None:
        csv = tmp_path / "users.csv"
        csv.write_text("phone,first_name,password\n+66891234567,Anan,Siam-demo-2468\n+66620001111,Suda,\n")
        import_users.import_file(csv, site_stack.model.environment["USERS_TABLE_NAME"], bcrypt_rounds=4, progress=print)
        status, _, raw = fetch(site_stack, "GET", "/_local/users")
        users = {user["phone"]: user for user in json.loads(raw)}
        assert status == 200
        assert users["+66891234567"]["has_password"] is True
        assert users["+66620001111"]["has_password"] is False
        assert users["+66891234567"]["profile"] == {"first_name": "Anan"}
        assert not [key for user in users.values() for key in user if "hash" in key]
        assert "Siam-demo-2468" not in raw.decode()

    def test_the_users_route_deletes_one_user_or_all(self, site_stack: LocalStack) -> None:
        sign_in(StackApi(site_stack, "/api/v1"), "+66823456789")
        sign_in(StackApi(site_stack, "/api/v1"), "+66834567890")
        assert fetch(site_stack, "DELETE", "/_local/users?phone=%2B66823456789")[0] == 204
        phones = {user["phone"] for user in json.loads(fetch(site_stack, "GET", "/_local/users")[2])}
        assert "+66823456789" not in phones and "+66834567890" in phones
        assert fetch(site_stack, "DELETE", "/_local/users")[0] == 204
        assert json.loads(fetch(site_stack, "GET", "/_local/users")[2]) == []


# ---------------------------------------------------------------------------- a frontend's own build
@pytest.fixture(scope="class")
def app_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("dist")
    (build / "assets").mkdir()
    (build / "index.html").write_text('<!DOCTYPE html><h1>my app</h1><script src="/assets/app.js"></script>')
    (build / "assets" / "app.js").write_text('fetch("/api/v1/auth/send-verification", {method: "POST"});\n')
    return build


@pytest.fixture(scope="class")
def app_stack(app_build: Path) -> Iterator[tuple[LocalStack, list[str]]]:
    """The Thai back-office market (make run ENV=th-dev) serving a frontend's build."""
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as env:
        for name in ("SIGNUP_MODE", "OTP_LOGIN_ENABLED"):  # the tests' own settings would win over samconfig's
            env.delenv(name, raising=False)
        extension = DevServer(static_dir=app_build)
        stack = start(port=0, log=lines.append, config_env="th-dev", import_sample_users=False, extension=extension)
        try:
            yield stack, lines
        finally:
            stack.stop()


class TestStaticDir:
    def test_the_build_is_served_at_the_root(self, app_stack: tuple[LocalStack, list[str]], app_build: Path) -> None:
        stack, _ = app_stack
        assert fetch(stack, "GET", "/")[2] == (app_build / "index.html").read_bytes()
        status, headers, _ = fetch(stack, "GET", "/assets/app.js")
        assert status == 200 and headers["content-type"].startswith("text/javascript")

    def test_client_side_routes_get_index_html(self, app_stack: tuple[LocalStack, list[str]], app_build: Path) -> None:
        stack, _ = app_stack
        status, _, raw = fetch(stack, "GET", "/account/settings", headers={"Accept": "text/html,*/*"})
        assert (status, raw) == (200, (app_build / "index.html").read_bytes())
        assert_not_found(*fetch(stack, "GET", "/assets/missing.js", headers={"Accept": "text/html"}))
        assert_not_found(*fetch(stack, "GET", "/account/settings", headers={"Accept": "application/json"}))

    def test_relative_api_calls_reach_the_api_on_the_same_origin(self, app_stack: tuple[LocalStack, list[str]]) -> None:
        stack, _ = app_stack
        status, body, _ = StackApi(stack, "/api/v1").call("check_mobile", {"mobilePhone": "0620001111"})
        assert status == 200 and body["success"] is True

    def test_the_reference_client_stays_reachable(self, app_stack: tuple[LocalStack, list[str]]) -> None:
        stack, _ = app_stack
        assert fetch(stack, "GET", "/_local/web/")[2] == (ROOT / "web" / "index.html").read_bytes()

    def test_the_banner_says_the_mode_market_and_pages(self, app_stack: tuple[LocalStack, list[str]]) -> None:
        stack, lines = app_stack
        banner = "\n".join(lines)
        assert "  Mode    market th, sign-up imported, SMS-code login off, phone region TH" in banner
        assert f"  Web     {stack.url}/  your app" in banner
        assert f"  Docs    {stack.url}/docs" in banner


def test_the_command_line_refuses_a_static_dir_that_does_not_exist(tmp_path: Path) -> None:
    assert run_main(["--static-dir", str(tmp_path / "absent"), "--port", "0"]) == 2


# ---------------------------------------------------------------------------- data kept across restarts
def test_data_survives_a_restart_and_fresh_starts_empty(tmp_path: Path) -> None:
    folder = tmp_path / "default"
    first = start(port=0, echo=False, import_sample_users=False, extension=DevServer(data=LocalData(folder)))
    try:
        token = sign_in(StackApi(first, "/api/v1"))["access_token"]
    finally:
        first.stop()
    tables = {"UsersTable.json", "OtpTable.json", "LimitsTable.json", "ImportJobsTable.json"}
    assert {path.name for path in folder.iterdir()} == tables | {"jwt-secret", "sms.json", "events.json"}
    assert stat.S_IMODE((folder / "jwt-secret").stat().st_mode) == 0o600

    lines: list[str] = []
    second = start(port=0, log=lines.append, import_sample_users=False, extension=DevServer(data=LocalData(folder)))
    try:
        # Same secret, same user: the token still works.
        status, body, _ = StackApi(second, "/api/v1").call("me", token=token)
        assert (status, body["user"]["phone"]) == (200, PHONE)
        assert [message.to for message in second.sms()] == [PHONE]
        # The first run's event is kept; putting the kept users back publishes nothing.
        assert [event["detail-type"] for event in second.events()] == ["UserCreated"]
        assert re.search(r"\n  Data    .*kept UsersTable \(1\), .*the JWT secret, 1 SMS, 1 events", "\n".join(lines))
    finally:
        second.stop()

    third = start(
        port=0, echo=False, import_sample_users=False, extension=DevServer(data=LocalData(folder, fresh=True))
    )
    try:
        assert StackApi(third, "/api/v1").call("me", token=token)[0] == 401
        assert third.sms() == [] and third.events() == []
        assert json.loads(fetch(third, "GET", "/_local/users")[2]) == []
    finally:
        third.stop()


def test_writes_that_bypass_the_api_are_kept_too(tmp_path: Path) -> None:
    """``make import`` writes to moto directly: the saver finds it on its next look."""
    data = LocalData(tmp_path, interval=0.1)
    stack = start(port=0, echo=False, import_sample_users=False, extension=DevServer(data=data))
    try:
        csv = tmp_path / "users.csv"
        csv.write_text("phone\n+66620001111\n")
        import_users.import_file(csv, stack.model.environment["USERS_TABLE_NAME"], bcrypt_rounds=4)
        deadline = time.monotonic() + 10
        while "+66620001111" not in (tmp_path / "UsersTable.json").read_text():
            assert time.monotonic() < deadline, "the import was not saved"
            time.sleep(0.05)
    finally:
        stack.stop()


def test_an_unreadable_file_is_set_aside_and_the_stack_starts(tmp_path: Path) -> None:
    (tmp_path / "UsersTable.json").write_text("{not json")
    lines: list[str] = []
    stack = start(port=0, log=lines.append, import_sample_users=False, extension=DevServer(data=LocalData(tmp_path)))
    try:
        assert fetch(stack, "GET", "/_local/health")[0] == 200
    finally:
        stack.stop()
    assert (tmp_path / "UsersTable.json.unreadable").read_text() == "{not json"
    assert json.loads((tmp_path / "UsersTable.json").read_text()) == []
    assert any("UsersTable.json cannot be read" in line for line in lines)


def test_a_stack_without_local_data_writes_nothing_to_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(ROOT))
    stack = start(port=0, echo=False, import_sample_users=False, extension=DevServer())
    try:
        sign_in(StackApi(stack, "/api/v1"))
    finally:
        stack.stop()
    assert sorted(os.listdir(ROOT)) == before
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------- make invoke
def test_invoke_prints_the_answer_and_the_sms(capsys: pytest.CaptureFixture[str]) -> None:
    assert invoke.main(["send_verification"]) == 0
    out = capsys.readouterr().out
    answer = out.split("--- send_verification (SendVerificationFunction) answered ---\n", 1)[1]
    assert answer.startswith("HTTP 200\nContent-Type: application/json")
    assert "Access-Control-Allow-Origin: http://localhost:5173" in answer
    assert '\n{\n  "success": true,\n' in answer  # the body, pretty
    assert "--- SMS sent: 1 ---\nto +66812345678: " in answer
    assert "AWS_ENDPOINT_URL" not in os.environ  # the environment is restored, not left pointing at moto


def test_invoke_takes_another_event_and_prints_any_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    event = json.loads((ROOT / "events" / "authorizer.json").read_text())
    event["headers"]["Authorization"] = "Bearer not-a-token"
    (tmp_path / "event.json").write_text(json.dumps(event))
    assert invoke.main(["authorizer", str(tmp_path / "event.json")]) == 0
    answer = json.loads(capsys.readouterr().out.split("answered ---\n", 1)[1].split("\n\n--- SMS", 1)[0])
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_invoke_names_the_logical_id_and_refuses_a_missing_event(capsys: pytest.CaptureFixture[str]) -> None:
    assert invoke.main(["me", "--logical-id"]) == 0
    assert capsys.readouterr().out == "MeFunction\n"
    assert invoke.main(["me", "/nonexistent/event.json"]) == 2
    with pytest.raises(SystemExit):
        invoke.main(["no_such_function"])


def test_every_function_has_an_event_and_a_logical_id() -> None:
    ids = invoke.logical_ids()
    assert sorted(ids) == sorted(path.stem for path in (ROOT / "functions").glob("*.py"))
    assert all((ROOT / "events" / f"{name}.json").is_file() for name in ids)
