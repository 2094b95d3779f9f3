"""The reference client (web/) in a real browser: Debian's chromium driven by Playwright.

One local stack runs in-process with the web client and the demo users; each test gets a fresh
browser context (an empty localStorage). Codes are read the way a developer reads them: from
the page's SMS outbox panel, checked against the stack's own outbox.

Covered against the real functions: the passwordless login, logout and login again; the
back-office users' registration of an imported user, password login and password reset; changing
the number and deleting the account, each through the sign-in-again prompt (by code, by
password) and the events they publish in the developer panel; error codes and messages in
English and Thai. The refresh and sessions screens are driven against the
running stack too (a second device listed and ended, an expired token refreshed), and the
client's rules for a refused refresh with the browser's network mocked (page.route).

Accessibility: the flow tabs by keyboard (the WAI-ARIA tabs pattern), the status line as the
only live region, table headers, per-row button names, the phone and code fields' attributes,
every word in both languages, and an axe-core audit (axe-playwright-python ships axe.min.js,
a pinned dev dependency) of the page in the states the tests reach.

On a failure the screenshot, the page's HTML, the browser console and the stack's log go to
test-artifacts/<test>/ (ignored by git). ``make test`` installs chromium (the Makefile); set
CHROMIUM=/path/to/chromium to use another build.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from devtools.dev_server import DevServer
from devtools.local_stack import LocalStack, start
from phone_auth.messages import MESSAGES
from tests.helpers import sign_in
from tests.helpers.stack import StackApi

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORDLESS_PHONE = "+13128059851"
SUDA = "+66620001111"  # devtools/sample_users.csv: imported, no password yet

expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def stack_log() -> list[str]:
    return []


@pytest.fixture(scope="module")
def stack(stack_log: list[str]) -> Iterator[LocalStack]:
    running = start(port=0, log=stack_log.append, extension=DevServer())  # demo users imported
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, stack: LocalStack, stack_log: list[str], request: pytest.FixtureRequest) -> Iterator[Page]:
    """The reference client, opened; artifacts are saved when the test fails."""
    # UTC, so the times in accessible names are known to the tests.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="UTC")
    opened = context.new_page()
    console: list[str] = []
    opened.on("console", lambda message: console.append(f"[{message.type}] {message.text}"))
    opened.on("pageerror", lambda error: console.append(f"[pageerror] {error}"))
    opened.on("requestfailed", lambda req: console.append(f"[requestfailed] {req.method} {req.url} {req.failure}"))
    failures_before, log_start = request.session.testsfailed, len(stack_log)
    opened.goto(stack.url + "/")
    expect(opened.get_by_test_id("devpanel")).to_be_visible()
    try:
        yield opened
    finally:
        if request.session.testsfailed > failures_before:
            folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            opened.screenshot(path=str(folder / "screenshot.png"), full_page=True)
            (folder / "page.html").write_text(opened.content(), encoding="utf-8")
            (folder / "console.txt").write_text("\n".join(console) + "\n", encoding="utf-8")
            (folder / "stack.log").write_text("\n".join(stack_log[log_start:]) + "\n", encoding="utf-8")
        context.close()


# ---------------------------------------------------------------------------- helpers
def use_code(page: Page, stack: LocalStack, phone: str, count: int) -> str:
    """Wait for the ``count``-th SMS to ``phone`` in the outbox panel and press its Use button."""
    messages = page.locator(f'#outbox li[data-to="{phone}"]')
    expect(messages).to_have_count(count)
    code = StackApi(stack).last_code(phone)
    messages.first.locator("button[data-code]").click()  # the panel lists the newest first
    assert messages.first.locator("button[data-code]").get_attribute("data-code") == code
    return code


def stored(page: Page, key: str) -> Any:
    return page.evaluate("(key) => localStorage.getItem(key)", key)


def expect_signed_in(page: Page, phone: str, notice: str) -> None:
    expect(page.get_by_test_id("session-state")).to_contain_text(f"Signed in as {phone}")
    expect(page.get_by_test_id("notice")).to_have_text(notice)
    assert json.loads(stored(page, "user"))["phone"] == phone


def expect_error(page: Page, code: str, message: str) -> None:
    expect(page.get_by_test_id("error-code")).to_have_text(code)
    expect(page.get_by_test_id("error-message")).to_have_text(message)


AXE = Axe()
# Every rule but the experimental ones, and of those the check that a control's accessible name
# holds its visible text (WCAG 2.5.3, label in name: the per-row names start with the button's text).
AXE_OPTIONS = {"resultTypes": ["violations"], "rules": {"label-content-name-mismatch": {"enabled": True}}}


def expect_no_axe_violations(page: Page) -> None:
    """axe-core's audit of the page as it is: no violation."""
    results = AXE.run(page, options=AXE_OPTIONS)
    assert results.violations_count == 0, results.generate_report()


def me_status(page: Page, token: str) -> tuple[int, str]:
    """GET /auth/me with ``token`` from the page, as its own code would call it."""
    answer = page.evaluate(
        """async (token) => {
            const response = await fetch("/api/v1/auth/me", {headers: {Authorization: `Bearer ${token}`}});
            const body = await response.json();
            return [response.status, body.success ? "" : body.error.code];
        }""",
        token,
    )
    return int(answer[0]), str(answer[1])


# ---------------------------------------------------------------------------- passwordless login
def test_passwordless_login_logout_and_login_again(page: Page, stack: LocalStack) -> None:
    expect(page.get_by_test_id("session-state")).to_have_text("Not signed in.")
    page.get_by_test_id("otp-phone").fill(PASSWORDLESS_PHONE)
    page.get_by_role("button", name="Send code").click()
    code = use_code(page, stack, PASSWORDLESS_PHONE, 1)
    expect(page.get_by_test_id("otp-code")).to_have_value(code)
    page.get_by_role("button", name="Verify and sign in").click()
    expect_signed_in(page, PASSWORDLESS_PHONE, "New user: this was the first sign-in.")
    first_token = stored(page, "access_token")
    device_token = stored(page, "device_token")
    assert device_token is not None

    page.get_by_role("button", name="Who am I").click()
    expect(page.get_by_test_id("answer")).to_contain_text(f'"phone": "{PASSWORDLESS_PHONE}"')
    page.get_by_role("button", name="Log out", exact=True).click()
    expect(page.get_by_test_id("session-state")).to_have_text("Not signed in.")
    assert stored(page, "access_token") is None and stored(page, "user") is None
    assert stored(page, "device_token") == device_token  # the device credential outlives logout

    page.get_by_role("button", name="Send code").click()
    use_code(page, stack, PASSWORDLESS_PHONE, 2)
    page.get_by_role("button", name="Verify and sign in").click()
    expect_signed_in(page, PASSWORDLESS_PHONE, "Welcome back.")
    second_token = stored(page, "access_token")
    assert second_token != first_token
    assert stored(page, "device_token") == device_token  # sent, valid, and the same one came back
    assert me_status(page, first_token) == (401, "TOKEN_REVOKED")  # dead since the logout, even now
    assert me_status(page, second_token) == (200, "")


# ---------------------------------------------------------------------------- back-office users
def test_registration_of_an_imported_user_password_login_and_reset(page: Page, stack: LocalStack) -> None:
    page.get_by_role("tab", name="Register").click()
    page.get_by_test_id("register-phone").fill("062-000-1111")
    page.get_by_role("button", name="Check number").click()
    expect(page.get_by_test_id("answer")).to_contain_text('"can_register": true')
    page.get_by_role("button", name="Send registration code").click()
    use_code(page, stack, SUDA, 1)
    page.get_by_role("button", name="Verify code").click()
    expect(page.get_by_test_id("notice")).to_have_text("Registration token received; now set a password.")
    page.get_by_test_id("register-password").fill("mango sticky rice 42")
    page.get_by_role("button", name="Set password and sign in").click()
    expect_signed_in(page, SUDA, "New user: this was the first sign-in.")
    expect(page.locator(f'#users tr[data-phone="{SUDA}"]')).to_contain_text("password")
    page.get_by_role("button", name="Log out", exact=True).click()
    expect(page.get_by_test_id("session-state")).to_have_text("Not signed in.")

    page.get_by_role("tab", name="Password login").click()
    page.get_by_test_id("login-phone").fill("0620001111")
    page.get_by_test_id("login-password").fill("mango sticky rice 42")
    page.get_by_role("button", name="Log in").click()
    expect_signed_in(page, SUDA, "Welcome back.")
    before_reset = stored(page, "access_token")

    page.get_by_role("tab", name="Reset password").click()
    page.get_by_test_id("reset-phone").fill("+66 62 000 1111")
    page.get_by_role("button", name="Send reset code").click()
    use_code(page, stack, SUDA, 2)
    page.get_by_test_id("reset-password").fill("durian season 2026")
    page.get_by_role("button", name="Reset password").click()
    expect(page.get_by_test_id("notice")).to_have_text(MESSAGES["PASSWORD_RESET"]["en"])
    page.get_by_role("button", name="Who am I").click()  # the page still holds the token from before the reset
    expect_error(page, "TOKEN_REVOKED", MESSAGES["TOKEN_REVOKED"]["en"])
    assert me_status(page, before_reset) == (401, "TOKEN_REVOKED")

    page.get_by_role("tab", name="Password login").click()
    page.get_by_role("button", name="Log in").click()  # the old password
    expect_error(page, "INVALID_CREDENTIALS", MESSAGES["INVALID_CREDENTIALS"]["en"])
    page.get_by_test_id("login-password").fill("durian season 2026")
    page.get_by_role("button", name="Log in").click()
    expect_signed_in(page, SUDA, "Welcome back.")


# ---------------------------------------------------------------------------- errors and languages
def test_errors_show_their_code_and_message_in_english_and_thai(page: Page) -> None:
    page.get_by_test_id("otp-phone").fill("0898765432")
    page.get_by_test_id("otp-code").fill("123456")
    page.get_by_role("button", name="Verify and sign in").click()
    expect_error(page, "OTP_NOT_FOUND", MESSAGES["OTP_NOT_FOUND"]["en"])

    page.get_by_role("button", name="ไทย").click()
    expect(page.get_by_role("button", name="ยืนยันและเข้าสู่ระบบ")).to_be_visible()
    page.get_by_role("button", name="ยืนยันและเข้าสู่ระบบ").click()
    expect_error(page, "OTP_NOT_FOUND", MESSAGES["OTP_NOT_FOUND"]["th"])
    page.reload()  # the choice is kept
    expect(page.get_by_test_id("session-state")).to_have_text("ยังไม่ได้เข้าสู่ระบบ")
    page.get_by_test_id("otp-phone").fill("12")
    page.get_by_role("button", name="ส่งรหัส").click()
    expect_error(page, "INVALID_PHONE", MESSAGES["INVALID_PHONE"]["th"])


# ---------------------------------------------------------------------------- sessions, for real
def test_a_second_device_is_listed_and_ended_and_an_expired_token_is_refreshed(
    page: Page, stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from phone_auth import clock

    phone = "+66812340001"
    page.get_by_test_id("otp-phone").fill(phone)
    page.get_by_role("button", name="Send code").click()
    use_code(page, stack, phone, 1)
    page.get_by_role("button", name="Verify and sign in").click()
    expect_signed_in(page, phone, "New user: this was the first sign-in.")

    # Another device signs in over plain HTTP.
    monkeypatch.setattr(clock, "now", lambda: time.time() + 61)  # past the resend wait
    other = sign_in(StackApi(stack, "/api/v1"), phone, headers={"User-Agent": "a phone"})

    page.get_by_role("button", name="Sessions").click()
    rows = page.locator('[data-testid="session-list"] tbody tr')
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("this device")  # the page's own session, used before the phone's
    expect(rows.nth(0)).to_contain_text("a phone")
    end_buttons = page.get_by_role("button", name=re.compile(r"^End session on "))
    expect(end_buttons).to_have_count(2)
    expect(rows.nth(1).get_by_role("button")).to_have_accessible_name(
        re.compile(r"^End session on .+ \(this device\), ")
    )
    page.get_by_role("button", name=re.compile(r"^End session on a phone, started ")).click()
    expect(rows).to_have_count(1)
    assert me_status(page, other["access_token"]) == (401, "TOKEN_REVOKED")  # at once, not at expiry

    # Sixteen minutes on, the access token has expired: the page refreshes it once and goes on.
    first = (stored(page, "access_token"), stored(page, "refresh_token"))
    monkeypatch.setattr(clock, "now", lambda: time.time() + 61 + 16 * 60)
    page.get_by_role("button", name="Who am I").click()
    expect(page.get_by_test_id("answer")).to_contain_text(f'"phone": "{phone}"')
    assert stored(page, "access_token") != first[0] and stored(page, "refresh_token") != first[1]
    assert me_status(page, stored(page, "access_token")) == (200, "")


# ---------------------------------------------------------------------------- the account's own life
def later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """The stack's clock ``seconds`` ahead: past REAUTH_MAX_AGE_SECONDS (300), within the token's 900 s."""
    import time

    from phone_auth import clock

    monkeypatch.setattr(clock, "now", lambda: time.time() + seconds)


def test_changing_the_number_asks_for_a_fresh_sign_in_by_code_then_moves_the_account(
    page: Page, stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone, new_phone = "+66812340101", "+66812340102"
    page.get_by_test_id("otp-phone").fill(phone)
    page.get_by_role("button", name="Send code").click()
    use_code(page, stack, phone, 1)
    page.get_by_role("button", name="Verify and sign in").click()
    expect_signed_in(page, phone, "New user: this was the first sign-in.")
    first_token = stored(page, "access_token")

    later(monkeypatch, 400)
    change = page.get_by_role("button", name="Change number")
    expect(change).to_have_attribute("aria-expanded", "false")
    change.click()
    expect(change).to_have_attribute("aria-expanded", "true")
    page.get_by_test_id("new-phone").fill("081-234-0102")
    page.get_by_role("button", name="Send code to the new number").click()
    expect_error(page, "REAUTHENTICATION_REQUIRED", MESSAGES["REAUTHENTICATION_REQUIRED"]["en"])
    reauth = page.get_by_test_id("reauth")
    expect(reauth).to_be_visible()
    expect(reauth.get_by_role("heading", name="Sign in again to continue")).to_be_visible()
    expect(page.get_by_test_id("reauth-phone")).to_have_text(phone)
    expect(page.get_by_role("button", name="Send a sign-in code")).to_be_focused()
    expect_no_axe_violations(page)

    page.get_by_role("button", name="Send a sign-in code").click()
    code = use_code(page, stack, phone, 2)  # into the prompt's code field
    expect(page.get_by_test_id("reauth-code")).to_have_value(code)
    page.get_by_role("button", name="Verify and continue").click()
    # Signed in again, the request that waited goes out: the code to the new number.
    expect(page.locator(f'#outbox li[data-to="{new_phone}"]')).to_have_count(1)
    expect(reauth).to_be_hidden()
    expect(page.get_by_test_id("notice")).to_have_text(MESSAGES["CODE_SENT"]["en"])

    use_code(page, stack, new_phone, 1)  # into the number change's code field
    page.get_by_role("button", name="Move my account").click()
    expect(page.get_by_test_id("notice")).to_have_text(f"Your account now uses {new_phone}.")
    expect_signed_in(page, new_phone, f"Your account now uses {new_phone}.")
    expect(page.locator(f'#outbox li[data-to="{phone}"]').first).to_contain_text(MESSAGES["SMS_PHONE_CHANGED"]["en"])
    assert me_status(page, first_token) == (401, "TOKEN_REVOKED")
    assert me_status(page, stored(page, "access_token")) == (200, "")
    events = page.get_by_test_id("events")
    expect(events.locator(f'li[data-type="PhoneChanged"][data-phone="{new_phone}"]')).to_have_count(1)
    expect(events.locator(f'li[data-type="PhoneChanged"][data-phone="{new_phone}"]')).to_contain_text(
        f"{phone} → {new_phone}"
    )
    expect(events.locator(f'li[data-type="SessionsEnded"][data-phone="{new_phone}"]')).to_contain_text("phone_change")
    expect_no_axe_violations(page)


def test_deleting_the_account_asks_for_a_fresh_sign_in_by_password_then_signs_out(
    page: Page, stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone, password = "+66812340201", "lemongrass soup 77"
    page.get_by_role("tab", name="Register").click()
    page.get_by_test_id("register-phone").fill(phone)
    page.get_by_role("button", name="Send registration code").click()
    use_code(page, stack, phone, 1)
    page.get_by_role("button", name="Verify code").click()
    expect(page.get_by_test_id("notice")).to_have_text("Registration token received; now set a password.")
    page.get_by_test_id("register-password").fill(password)
    page.get_by_role("button", name="Set password and sign in").click()
    expect_signed_in(page, phone, "New user: this was the first sign-in.")
    token = stored(page, "access_token")

    later(monkeypatch, 400)
    page.get_by_role("button", name="Delete account").click()
    page.get_by_role("button", name="Cancel").click()  # thought better of it: nothing happens
    expect(page.get_by_role("button", name="Yes, delete my account")).to_be_hidden()
    page.get_by_role("button", name="Delete account").click()
    page.get_by_role("button", name="Yes, delete my account").click()
    expect_error(page, "REAUTHENTICATION_REQUIRED", MESSAGES["REAUTHENTICATION_REQUIRED"]["en"])
    page.get_by_test_id("reauth-password").fill(password)
    page.get_by_role("button", name="Log in and continue").click()

    expect(page.get_by_test_id("notice")).to_have_text(MESSAGES["ACCOUNT_DELETED"]["en"])
    expect(page.get_by_test_id("session-state")).to_have_text("Not signed in.")
    assert stored(page, "access_token") is None
    assert me_status(page, token) == (401, "TOKEN_REVOKED")
    expect(page.locator(f'#users tr[data-phone="{phone}"]')).to_have_count(0)
    expect(page.get_by_test_id("events").locator(f'li[data-type="UserDeleted"][data-phone="{phone}"]')).to_have_count(1)

    page.get_by_role("button", name="ไทย").click()  # the prompt and the buttons in Thai
    expect(page.get_by_role("heading", name="เหตุการณ์ของบัญชี")).to_be_visible()


# ---------------------------------------------------------------------------- accessibility
FLOW_TABS = ["SMS code login", "Register", "Password login", "Reset password"]
PHONE_FIELDS = ["otp-phone", "register-phone", "login-phone", "reset-phone", "new-phone"]
CODE_FIELDS = ["otp-code", "register-code", "reset-code", "change-code", "reauth-code"]
LIVE = '[aria-live], [role="status"], [role="alert"], [role="log"], [role="marquee"], [role="timer"]'


def expect_tab_selected(page: Page, name: str) -> None:
    """``name`` is the one selected tab, the only one in the Tab order, and its panel the only one shown."""
    for tab_name in FLOW_TABS:
        tab = page.get_by_role("tab", name=tab_name, exact=True)
        expect(tab).to_have_attribute("aria-selected", "true" if tab_name == name else "false")
        expect(tab).to_have_attribute("tabindex", "0" if tab_name == name else "-1")
    expect(page.get_by_role("tabpanel")).to_have_count(1)  # hidden panels are out of the tree
    expect(page.get_by_role("tabpanel", name=name, exact=True)).to_be_visible()


def test_flow_tabs_follow_the_tabs_pattern_by_keyboard(page: Page) -> None:
    tablist = page.get_by_role("tablist", name="Sign-in and account flows")
    # A tablist switches panels on this page: it is no navigation landmark and sits in none.
    assert tablist.evaluate("list => list.closest('nav, [role=navigation]') === null")
    tabs = tablist.get_by_role("tab")
    expect(tabs).to_have_text(FLOW_TABS)
    for index in range(len(FLOW_TABS)):  # tab -> aria-controls -> tabpanel -> aria-labelledby -> tab
        tab = tabs.nth(index)
        panel = page.locator(f"#{tab.get_attribute('aria-controls')}")
        expect(panel).to_have_attribute("role", "tabpanel")
        expect(panel).to_have_attribute("aria-labelledby", str(tab.get_attribute("id")))
    expect_tab_selected(page, "SMS code login")

    # Tab reaches the selected tab only, and the next Tab leaves the tablist for the panel.
    page.get_by_role("button", name="ไทย").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("tab", name="SMS code login")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("tabpanel", name="SMS code login")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("tab", name="SMS code login")).to_be_focused()

    # Arrows move focus and selection together (automatic activation), wrapping at both ends.
    for key, name in [
        ("ArrowRight", "Register"),
        ("ArrowRight", "Password login"),
        ("ArrowRight", "Reset password"),
        ("ArrowRight", "SMS code login"),
        ("ArrowLeft", "Reset password"),
        ("Home", "SMS code login"),
        ("End", "Reset password"),
        ("ArrowLeft", "Password login"),
    ]:
        page.keyboard.press(key)
        expect(page.get_by_role("tab", name=name, exact=True)).to_be_focused()
        expect_tab_selected(page, name)
    expect_no_axe_violations(page)

    page.keyboard.press("Tab")  # into the panel, then its first field
    page.keyboard.press("Tab")
    expect(page.get_by_test_id("login-phone")).to_be_focused()
    page.get_by_role("tab", name="Register").click()  # a click selects as well
    expect_tab_selected(page, "Register")
    page.reload()  # the choice is kept
    expect_tab_selected(page, "Register")


def test_the_status_line_is_the_only_live_region_and_the_json_stays_out_of_it(page: Page) -> None:
    live = page.locator(LIVE)
    expect(live).to_have_count(1)
    status = page.get_by_role("status")
    expect(status).to_have_attribute("id", "status")
    answer = page.get_by_test_id("answer")
    assert answer.evaluate("(pre, live) => pre.closest(live) === null", LIVE)

    page.get_by_test_id("otp-phone").fill("12")
    page.get_by_role("button", name="Send code").click()
    expect(status).to_have_text(MESSAGES["INVALID_PHONE"]["en"])  # the message alone
    expect(page.get_by_test_id("error-code")).to_have_text("INVALID_PHONE")  # shown beside it, not announced
    expect(answer).to_contain_text('"code": "INVALID_PHONE"')
    expect_no_axe_violations(page)

    page.get_by_test_id("otp-phone").fill("0812340077")
    page.get_by_role("button", name="Send code").click()
    expect(status).to_have_text(MESSAGES["CODE_SENT"]["en"])
    expect(page.get_by_test_id("error-code")).to_be_hidden()
    expect(answer).to_contain_text('"expires_in"')
    expect(live).to_have_count(1)

    page.get_by_role("button", name="ไทย").click()
    page.get_by_role("button", name="ส่งรหัส").click()  # too soon: the wait between codes, in Thai
    expect(page.get_by_test_id("error-code")).to_have_text(re.compile(r"\w+"))
    code = page.get_by_test_id("error-code").inner_text()
    expect(status).to_have_text(MESSAGES[code]["th"])


def test_phone_and_code_fields_say_what_they_take(page: Page) -> None:
    for testid in PHONE_FIELDS:
        field = page.get_by_test_id(testid)
        expect(field).to_have_attribute("type", "tel")
        expect(field).to_have_attribute("autocomplete", "tel")
    for testid in CODE_FIELDS:
        field = page.get_by_test_id(testid)
        expect(field).to_have_attribute("inputmode", "numeric")
        expect(field).to_have_attribute("maxlength", "6")
        expect(field).to_have_attribute("pattern", "[0-9]{6}")
        expect(field).to_have_attribute("autocomplete", "one-time-code")
        expect(field).to_have_attribute("title", "The 6 digits of the code")

    code = page.get_by_test_id("otp-code")
    code.press_sequentially("1234567")
    expect(code).to_have_value("123456")  # a seventh digit does not fit
    code.fill("12345a")
    assert code.evaluate("field => field.validity.patternMismatch")
    page.get_by_role("button", name="Verify and sign in").click()  # the browser holds the form back
    expect(page.get_by_role("status")).to_have_text("")
    page.get_by_role("button", name="ไทย").click()
    expect(code).to_have_attribute("title", "รหัสตัวเลข 6 หลัก")


def test_developer_panel_rows_have_headers_and_buttons_named_after_their_row(page: Page, stack: LocalStack) -> None:
    phone = "+66812340066"
    page.get_by_test_id("otp-phone").fill(phone)
    page.get_by_role("button", name="Send code").click()
    use = page.get_by_role("button", name=re.compile(rf"^Use \d{{6}}, sent to \{phone} at "))
    expect(use).to_have_count(1)
    use.click()
    page.get_by_role("button", name="Verify and sign in").click()
    expect_signed_in(page, phone, "New user: this was the first sign-in.")

    users = page.get_by_test_id("users")
    expect(users).to_have_role("table")
    expect(users).to_have_accessible_name("Users")
    expect(users.get_by_role("columnheader")).to_have_text(["Phone", "Name", "Status", "Actions"])
    expect(users.locator('thead th[scope="col"]')).to_have_count(4)
    rows = users.locator("tbody tr")
    expect(users.locator(f'tbody tr[data-phone="{phone}"]')).to_have_count(1)
    phones = rows.evaluate_all("rows => rows.map((row) => row.dataset.phone)")
    assert len(phones) == len(set(phones)) > 1
    for each in phones:  # one Delete button per row, each named after its user
        expect(users.get_by_role("button", name=f"Delete user {each}", exact=True)).to_have_count(1)
    expect(page.get_by_role("button", name="Delete all users")).to_have_text("Delete all")
    expect(page.get_by_role("button", name="Clear the SMS outbox")).to_have_text("Clear")
    expect_no_axe_violations(page)

    users.get_by_role("button", name=f"Delete user {phone}", exact=True).click()
    expect(users.locator(f'tbody tr[data-phone="{phone}"]')).to_have_count(0)
    expect(rows).to_have_count(len(phones) - 1)  # that row only
    assert stack.sms(phone)

    page.get_by_role("button", name="ไทย").click()
    expect(users).to_have_accessible_name("ผู้ใช้")
    expect(users.get_by_role("columnheader")).to_have_text(["เบอร์โทรศัพท์", "ชื่อ", "สถานะ", "การดำเนินการ"])
    expect(users.get_by_role("button", name=f"ลบผู้ใช้ {phones[0]}", exact=True)).to_have_count(1)
    expect(page.get_by_role("tablist", name="ขั้นตอนเข้าสู่ระบบและจัดการบัญชี")).to_be_visible()
    expect_no_axe_violations(page)


def test_every_word_of_the_page_is_in_english_and_thai(page: Page) -> None:
    keys = page.evaluate(
        """async () => {
            const { WORDS } = await import("/i18n.js");
            return Object.fromEntries(Object.entries(WORDS).map(([language, words]) => [language, Object.keys(words)]));
        }"""
    )
    assert set(keys) == {"en", "th"}
    assert sorted(keys["en"]) == sorted(keys["th"])
    used = page.evaluate(
        """() => [...document.querySelectorAll("[data-i18n], [data-i18n-label], [data-i18n-title]")].flatMap(
            ({ dataset }) => [dataset.i18n, dataset.i18nLabel, dataset.i18nTitle].filter(Boolean))"""
    )
    assert set(used) <= set(keys["en"])
    for script in ["app.js", "devpanel.js"]:  # the words the scripts ask for by name
        asked = set(re.findall(r'\bt\("(\w+)"', (ROOT / "web" / script).read_text(encoding="utf-8")))
        assert asked and asked <= set(keys["en"]), asked - set(keys["en"])


# ---------------------------------------------------------------------------- the client's rules (network mocked)
USER = {"id": "u1", "phone": "+66812345678", "is_active": True, "is_verified": True, "market": "th"}


def fulfil(route: Route, status: int, body: dict[str, Any]) -> None:
    route.fulfill(status=status, content_type="application/json", body=json.dumps(body))


def error(code: str) -> dict[str, Any]:
    return {"success": False, "error": {"code": code, "message": code.lower()}}


def sign_in_as(page: Page, **stored_tokens: str) -> None:
    page.evaluate(
        "(items) => { for (const [k, v] of Object.entries(items)) localStorage.setItem(k, v); }",
        {"user": json.dumps(USER), **stored_tokens},
    )
    page.reload()


def test_an_expired_access_token_is_refreshed_once_and_the_new_tokens_kept(page: Page) -> None:
    refreshes: list[dict[str, Any]] = []

    def me(route: Route) -> None:
        if route.request.headers.get("authorization") == "Bearer new-access":
            fulfil(route, 200, {"success": True, "user": USER})
        else:
            fulfil(route, 401, error("TOKEN_EXPIRED"))

    def refresh(route: Route) -> None:
        refreshes.append(json.loads(route.request.post_data or "{}"))
        answer = {"access_token": "new-access", "token_type": "Bearer", "expires_in": 900, "refresh_token": "r2"}
        fulfil(route, 200, {"success": True, **answer, "session_id": "s1", "user": USER})

    page.route("**/api/v1/auth/me", me)
    page.route("**/api/v1/auth/refresh", refresh)
    sign_in_as(page, access_token="old-access", refresh_token="r1")
    page.get_by_role("button", name="Who am I").click()
    expect(page.get_by_test_id("answer")).to_contain_text('"phone": "+66812345678"')
    expect(page.get_by_role("status")).to_have_text("Your account is shown below.")
    assert refreshes == [{"refresh_token": "r1"}]
    assert (stored(page, "access_token"), stored(page, "refresh_token"), stored(page, "session_id")) == (
        "new-access",
        "r2",
        "s1",
    )


def test_a_refused_refresh_ends_the_sign_in_and_shows_the_first_error(page: Page) -> None:
    page.route("**/api/v1/auth/me", lambda route: fulfil(route, 401, error("TOKEN_EXPIRED")))
    page.route("**/api/v1/auth/refresh", lambda route: fulfil(route, 401, error("REFRESH_TOKEN_REUSED")))
    sign_in_as(page, access_token="old-access", refresh_token="r1")
    page.get_by_role("button", name="Who am I").click()
    expect(page.get_by_test_id("error-code")).to_have_text("TOKEN_EXPIRED")
    expect(page.get_by_test_id("session-state")).to_have_text("Not signed in.")
    assert stored(page, "refresh_token") is None


def test_sessions_are_listed_and_one_can_be_ended(page: Page) -> None:
    ended: list[str] = []
    sessions: list[dict[str, Any]] = [
        {
            "id": "s1",
            "created_at": "2026-11-21T10:00:00Z",
            "last_used_at": "2026-11-21T10:05:00Z",
            "method": "sms_code",
        },
        {
            "id": "s2",
            "created_at": "2026-11-20T09:00:00Z",
            "last_used_at": "2026-11-20T09:00:00Z",
            "method": "password",
        },
    ]
    sessions[0] |= {"user_agent": "this browser", "ip": "127.0.0.1", "current": True}
    sessions[1] |= {"user_agent": "a phone", "ip": "203.0.113.7", "current": False}

    def one_session(route: Route) -> None:
        ended.append(route.request.url.rsplit("/", 1)[1])
        fulfil(route, 200, {"success": True, "message": "Session ended."})

    page.route("**/api/v1/auth/sessions", lambda route: fulfil(route, 200, {"success": True, "sessions": sessions}))
    page.route("**/api/v1/auth/sessions/*", one_session)
    sign_in_as(page, access_token="access", refresh_token="r1", session_id="s1")
    page.get_by_role("button", name="Sessions").click()
    rows = page.locator('[data-testid="session-list"] tbody tr')
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("this device")
    expect(page.get_by_role("status")).to_have_text("Sessions listed: 2.")
    table = page.get_by_test_id("session-list")
    expect(table).to_have_role("table")
    expect(table).to_have_accessible_name("Your sessions")
    expect(table.get_by_role("columnheader")).to_have_text(["Device", "Last used (started)", "Current", "Actions"])
    expect(table.locator('thead th[scope="col"]')).to_have_count(4)
    # One End button per row, each named after its device and start (the context's clock is UTC, en-US).
    this_one = page.get_by_role(
        "button", name="End session on this browser (this device), started 11/21/2026, 10:00:00 AM"
    )
    the_phone = page.get_by_role("button", name="End session on a phone, started 11/20/2026, 9:00:00 AM", exact=True)
    expect(this_one).to_have_count(1)
    expect(the_phone).to_have_count(1)
    expect(the_phone).to_have_text("End")  # the visible label is part of the name
    expect_no_axe_violations(page)

    the_phone.click()
    expect(page.get_by_test_id("answer")).to_contain_text("Session ended.")
    expect(page.get_by_role("status")).to_have_text("Session ended.")
    assert ended == ["s2"]
    expect(page.get_by_test_id("session-state")).to_contain_text("Signed in as +66812345678")

    page.get_by_role("button", name="ไทย").click()  # the rows' names follow the language
    expect(table).to_have_accessible_name("เซสชันของคุณ")
    expect(table.get_by_role("columnheader")).to_have_text(["อุปกรณ์", "ใช้ล่าสุด (เริ่มเมื่อ)", "ปัจจุบัน", "การดำเนินการ"])
    expect(
        page.get_by_role("button", name="สิ้นสุดเซสชันบน a phone ที่เริ่มเมื่อ 11/20/2026, 9:00:00 AM", exact=True)
    ).to_have_count(1)
