// The reference client: one form per step of every flow, the session, and the last answer.
// Every call goes through api.js; this file only reads forms and shows results.
//
// Screen readers hear one short status line per call (#status, role="status": the notice or the
// error's message); the answer's JSON stays outside that live region, to be read on demand.

import { Api, ApiError, tokens } from "./api.js";
import { API_BASE_URL } from "./config.js";
import { startDevPanel } from "./devpanel.js";
import { currentLanguage, setLanguage, t, translate } from "./i18n.js";

const $ = (selector) => document.querySelector(selector);
const api = new Api(API_BASE_URL, { language: currentLanguage, onTokens: renderSession });
/** The registration token between verify-registration-otp and complete-registration (memory only). */
let registrationToken = null;
/** The sessions on screen, kept to draw them again in another language. */
let shownSessions = null;

// ---------------------------------------------------------------- results
/** The status line (the live region): a notice, or an error's message with its code beside it. */
function showStatus(notice, error = null) {
  $("#notice").textContent = notice;
  $("#error-message").textContent = error?.message ?? "";
  $("#error-code").textContent = error?.code ?? "";
  $("#error-code").hidden = !error;
}

function showAnswer(answer) {
  $("#answer").textContent = JSON.stringify(answer, null, 2);
}

function showError(error) {
  const known = error instanceof ApiError;
  showStatus("", { code: known ? error.code : "CLIENT_ERROR", message: error.message });
  const body = known ? { status: error.status, code: error.code, message: error.message, details: error.details } : {};
  $("#answer").textContent = JSON.stringify(body, null, 2);
}

/** Run one API step from a button or form: working state, then its answer or its error. */
async function step(work, notice = (answer) => answer?.message, { onError = () => {} } = {}) {
  showStatus(t("working"));
  $("#answer").textContent = "";
  try {
    const answer = await work();
    showAnswer(answer);
    showStatus((typeof notice === "function" ? notice(answer) : notice) || t("done"));
    return answer;
  } catch (error) {
    showError(error);
    onError(error);
    return null;
  }
}

function onSubmit(selector, handler) {
  $(selector).addEventListener("submit", (event) => {
    event.preventDefault();
    handler(Object.fromEntries(new FormData(event.currentTarget)));
  });
}

const signedInNotice = (answer) => (answer.is_new_user ? t("newUser") : t("returningUser"));

// ---------------------------------------------------------------- session
function renderSession() {
  const user = tokens.user;
  const signedIn = Boolean(tokens.access);
  const state = $("#session-state");
  state.dataset.signedIn = String(signedIn);
  $("#session-actions").hidden = !signedIn;
  if (!signedIn) {
    state.textContent = t("signedOut");
    shownSessions = null;
    $("#session-list").hidden = true;
    showAccountStep(null);
    return;
  }
  const expires = tokens.expiresAt ? ` · ${t("tokenExpires")} ${new Date(tokens.expiresAt).toLocaleTimeString()}` : "";
  state.textContent = `${t("signedInAs")} ${user?.phone ?? "?"}${expires}`;
}

/** List the user's sessions; ``quiet`` keeps the last answer on screen (after ending one). */
async function showSessions({ quiet = false } = {}) {
  const answer = quiet
    ? await api.sessions().catch(() => null)
    : await step(
        () => api.sessions(),
        (listed) => t("sessionsListed", { count: listed.sessions.length }),
      );
  shownSessions = answer?.sessions ?? null;
  renderSessionList();
}

/** The session table: one row per session, each with an End button named after its device and start. */
function renderSessionList() {
  const list = $("#session-list");
  const body = list.querySelector("tbody");
  body.replaceChildren();
  list.hidden = !shownSessions;
  const at = (iso) => (iso ? new Date(iso).toLocaleString() : "");
  for (const session of shownSessions ?? []) {
    const row = body.insertRow();
    const device = row.insertCell();
    device.append(session.user_agent || "?", document.createElement("br"));
    const detail = document.createElement("span");
    detail.className = "muted";
    detail.textContent = `${session.ip} · ${session.method} · ${session.id.slice(0, 8)}`;
    device.append(detail);
    row.insertCell().textContent = `${at(session.last_used_at)} (${at(session.created_at)})`;
    row.insertCell().textContent = session.current ? t("current") : "";
    const end = document.createElement("button");
    end.type = "button";
    end.className = "small";
    end.textContent = t("endSession");
    const deviceName = (session.user_agent || "?") + (session.current ? ` (${t("current")})` : "");
    end.setAttribute("aria-label", t("endSessionLabel", { device: deviceName, started: at(session.created_at) }));
    end.addEventListener("click", async () => {
      if (!(await step(() => api.endSession(session.id)))) return;
      if (session.current) tokens.clear();
      renderSession();
      if (tokens.access) showSessions({ quiet: true });
    });
    row.insertCell().append(end);
  }
}

$("#me").addEventListener("click", () => step(() => api.me(), t("meShown")));
$("#refresh").addEventListener("click", () => {
  if (!tokens.refresh) {
    showError(new ApiError(0, "NO_REFRESH_TOKEN", t("noRefreshToken")));
    return;
  }
  step(() => api.refresh(), t("tokensRefreshed"));
});
$("#sessions").addEventListener("click", () => showSessions());
$("#logout").addEventListener("click", () => step(() => api.logout()));
$("#logout-everywhere").addEventListener("click", () => step(() => api.logout({ everywhere: true })));

// ---------------------------------------------------------------- the account's own life
// Changing the number and deleting the account need a recent sign-in. When the API answers
// REAUTHENTICATION_REQUIRED, the request waits in `pending` while the user signs in again (by
// code or password, as the same number) in #reauth; then it is sent again with the new token.
const ACCOUNT_STEPS = { "phone-change": "#change-number", "delete-confirm": "#delete-account" };
let pending = null;

/** Show one of the account's steps (#phone-change, #delete-confirm, #reauth), or none. */
function showAccountStep(id) {
  for (const step of document.querySelectorAll(".account-step")) step.hidden = step.id !== id;
  for (const [stepId, button] of Object.entries(ACCOUNT_STEPS)) {
    $(button).setAttribute("aria-expanded", String(stepId === id));
  }
  if (id !== "reauth") pending = null;
}

/** A step that needs a recent sign-in: on REAUTHENTICATION_REQUIRED, ask for one and keep it pending. */
function sensitiveStep(work, notice, after, returnTo) {
  return step(work, notice, {
    onError: (error) => {
      if (error.code !== "REAUTHENTICATION_REQUIRED") return;
      showAccountStep("reauth");
      pending = { work, notice, after, returnTo };
      $("#reauth-phone").textContent = tokens.user?.phone ?? "";
      $("#reauth-send").focus();
    },
  }).then((answer) => {
    if (answer) after(answer);
    return answer;
  });
}

/** Signed in again: send the pending request with the new token. */
async function afterReauth(answer) {
  if (!answer || !pending) return;
  const { work, notice, after, returnTo } = pending;
  showAccountStep(returnTo);
  await sensitiveStep(work, notice, after, returnTo);
}

$("#change-number").addEventListener("click", () => {
  showAccountStep($("#phone-change").hidden ? "phone-change" : null);
  if (!$("#phone-change").hidden) $("#phone-change-send [name=phone]").focus();
});
$("#delete-account").addEventListener("click", () => showAccountStep($("#delete-confirm").hidden ? "delete-confirm" : null));
for (const cancel of document.querySelectorAll(".account-step .cancel")) {
  cancel.addEventListener("click", () => showAccountStep(null));
}
onSubmit("#phone-change-send", ({ phone }) =>
  sensitiveStep(() => api.requestPhoneChange(phone), undefined, () => $("#phone-change-verify [name=code]").focus(), "phone-change"),
);
onSubmit("#phone-change-verify", ({ code }) => {
  const phone = $("#phone-change-send [name=phone]").value;
  sensitiveStep(
    () => api.verifyPhoneChange(phone, code),
    (answer) => t("numberChanged", { phone: answer.user.phone }),
    () => {
      showAccountStep(null);
      for (const form of ["#phone-change-send", "#phone-change-verify"]) $(form).reset();
    },
    "phone-change",
  );
});
$("#delete-confirmed").addEventListener("click", () =>
  sensitiveStep(() => api.deleteAccount(), undefined, () => showAccountStep(null), "delete-confirm"),
);
$("#reauth-send").addEventListener("click", () => step(() => api.sendCode(tokens.user?.phone ?? "")));
onSubmit("#reauth-code", async ({ code }) => {
  afterReauth(await step(() => api.verifyCode(tokens.user?.phone ?? "", code), t("signedInAgain")));
});
onSubmit("#reauth-password", async ({ password }) => {
  afterReauth(await step(() => api.login(tokens.user?.phone ?? "", password), t("signedInAgain")));
});

// ---------------------------------------------------------------- flows
onSubmit("#otp-send", ({ phone }) => step(() => api.sendCode(phone)));
onSubmit("#otp-verify", ({ code }) => step(() => api.verifyCode($("#otp-send [name=phone]").value, code), signedInNotice));

$("#register-check").addEventListener("click", () => step(() => api.checkMobile($("#register-send [name=phone]").value)));
onSubmit("#register-send", ({ phone }) => step(() => api.requestRegistrationCode(phone)));
onSubmit("#register-verify", async ({ code }) => {
  const answer = await step(() => api.verifyRegistrationCode($("#register-send [name=phone]").value, code));
  if (answer) {
    registrationToken = answer.registration_token;
    showStatus(t("registrationToken"));
  }
});
onSubmit("#register-complete", ({ password }) => {
  const phone = $("#register-send [name=phone]").value;
  step(() => api.completeRegistration(phone, password, registrationToken), signedInNotice);
});

onSubmit("#login", ({ phone, password }) => step(() => api.login(phone, password), signedInNotice));

onSubmit("#reset-send", ({ phone }) => step(() => api.requestResetCode(phone)));
onSubmit("#reset-complete", ({ code, password }) =>
  step(() => api.resetPassword($("#reset-send [name=phone]").value, code, password)),
);

// ---------------------------------------------------------------- tabs and language
// The WAI-ARIA tabs pattern with automatic activation: the selected tab is the only one in the
// Tab order (roving tabindex); Left/Right (wrapping), Home and End move focus and select the
// tab at once, since every panel is already on the page. Enter, Space and a click select too.
const TABS = [...document.querySelectorAll('[role="tab"]')];

function selectTab(name, { focus = false } = {}) {
  const chosen = TABS.find((tab) => tab.dataset.tab === name) ?? TABS[0];
  for (const tab of TABS) {
    const selected = tab === chosen;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    document.getElementById(tab.getAttribute("aria-controls")).hidden = !selected;
  }
  if (focus) chosen.focus();
  localStorage.setItem("tab", chosen.dataset.tab);
}

const TAB_KEYS = {
  ArrowRight: (index) => (index + 1) % TABS.length,
  ArrowLeft: (index) => (index - 1 + TABS.length) % TABS.length,
  Home: () => 0,
  End: () => TABS.length - 1,
};

for (const tab of TABS) {
  tab.addEventListener("click", () => selectTab(tab.dataset.tab));
  tab.addEventListener("keydown", (event) => {
    const move = TAB_KEYS[event.key];
    if (!move || event.altKey || event.ctrlKey || event.metaKey) return;
    event.preventDefault();
    selectTab(TABS[move(TABS.indexOf(tab))].dataset.tab, { focus: true });
  });
}
for (const button of document.querySelectorAll("[data-lang]")) {
  button.addEventListener("click", () => {
    setLanguage(button.dataset.lang);
    renderLanguage();
  });
}

function renderLanguage() {
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === currentLanguage()));
  }
  renderSession();
  renderSessionList();
}

/** The code field on screen: the account step's (a fresh sign-in, a new number), else the flow's.
 * Where the developer panel's "Use" button puts a code. */
function fillCode(code) {
  const field =
    document.querySelector(".account-step:not([hidden]) [data-code-field]") ??
    document.querySelector("[data-panel]:not([hidden]) [data-code-field]");
  if (field) {
    field.value = code;
    field.focus();
  }
}

// ---------------------------------------------------------------- start
const apiUrl = new URL(API_BASE_URL, location.href);
$("#api-base").textContent = apiUrl.href;
translate(document);
selectTab(localStorage.getItem("tab") ?? "otp");
renderLanguage();
startDevPanel(apiUrl.origin, { onUseCode: fillCode, onShown: () => {
  $("#docs-link").href = new URL("/docs", apiUrl.origin).href;
  $("#docs-link").hidden = false;
} });
