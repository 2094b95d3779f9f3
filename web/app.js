// The reference client: one form per step of every flow, the session, and the last answer.
// Every call goes through api.js; this file only reads forms and shows results.

import { Api, ApiError, tokens } from "./api.js";
import { API_BASE_URL } from "./config.js";
import { startDevPanel } from "./devpanel.js";
import { currentLanguage, setLanguage, t, translate } from "./i18n.js";

const $ = (selector) => document.querySelector(selector);
const api = new Api(API_BASE_URL, { language: currentLanguage, onTokens: renderSession });
/** The registration token between verify-registration-otp and complete-registration (memory only). */
let registrationToken = null;

// ---------------------------------------------------------------- results
function showAnswer(answer) {
  $("#error").hidden = true;
  $("#answer").textContent = JSON.stringify(answer, null, 2);
}

function showError(error) {
  const known = error instanceof ApiError;
  $("#notice").textContent = "";
  $("#error").hidden = false;
  $('[data-testid="error-code"]').textContent = known ? error.code : "CLIENT_ERROR";
  $('[data-testid="error-message"]').textContent = error.message;
  const body = known ? { status: error.status, code: error.code, message: error.message, details: error.details } : {};
  $("#answer").textContent = JSON.stringify(body, null, 2);
}

/** Run one API step from a button or form: working state, then its answer or its error. */
async function step(work, notice = (answer) => answer?.message ?? "") {
  $("#notice").textContent = t("working");
  $("#error").hidden = true;
  $("#answer").textContent = "";
  try {
    const answer = await work();
    showAnswer(answer);
    $("#notice").textContent = typeof notice === "function" ? notice(answer) : notice;
    return answer;
  } catch (error) {
    showError(error);
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
    $("#session-list").hidden = true;
    return;
  }
  const expires = tokens.expiresAt ? ` · ${t("tokenExpires")} ${new Date(tokens.expiresAt).toLocaleTimeString()}` : "";
  state.textContent = `${t("signedInAs")} ${user?.phone ?? "?"}${expires}`;
}

/** List the user's sessions; ``quiet`` keeps the last answer on screen (after ending one). */
async function showSessions({ quiet = false } = {}) {
  const answer = quiet ? await api.sessions().catch(() => null) : await step(() => api.sessions(), "");
  const list = $("#session-list");
  const body = list.querySelector("tbody");
  body.replaceChildren();
  list.hidden = !answer;
  for (const session of answer?.sessions ?? []) {
    const row = body.insertRow();
    const at = (iso) => (iso ? new Date(iso).toLocaleString() : "");
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
    end.addEventListener("click", async () => {
      if (!(await step(() => api.endSession(session.id)))) return;
      if (session.current) tokens.clear();
      renderSession();
      if (tokens.access) showSessions({ quiet: true });
    });
    row.insertCell().append(end);
  }
}

$("#me").addEventListener("click", () => step(() => api.me(), ""));
$("#refresh").addEventListener("click", () => {
  if (!tokens.refresh) {
    showError(new ApiError(0, "NO_REFRESH_TOKEN", t("noRefreshToken")));
    return;
  }
  step(() => api.refresh(), "");
});
$("#sessions").addEventListener("click", () => showSessions());
$("#logout").addEventListener("click", () => step(() => api.logout()));
$("#logout-everywhere").addEventListener("click", () => step(() => api.logout({ everywhere: true })));

// ---------------------------------------------------------------- flows
onSubmit("#otp-send", ({ phone }) => step(() => api.sendCode(phone)));
onSubmit("#otp-verify", ({ code }) => step(() => api.verifyCode($("#otp-send [name=phone]").value, code), signedInNotice));

$("#register-check").addEventListener("click", () => step(() => api.checkMobile($("#register-send [name=phone]").value)));
onSubmit("#register-send", ({ phone }) => step(() => api.requestRegistrationCode(phone)));
onSubmit("#register-verify", async ({ code }) => {
  const answer = await step(() => api.verifyRegistrationCode($("#register-send [name=phone]").value, code));
  if (answer) {
    registrationToken = answer.registration_token;
    $("#notice").textContent = t("registrationToken");
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
function selectTab(name) {
  for (const tab of document.querySelectorAll("[data-tab]")) tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
  for (const panel of document.querySelectorAll("[data-panel]")) panel.hidden = panel.dataset.panel !== name;
  localStorage.setItem("tab", name);
}

for (const tab of document.querySelectorAll("[data-tab]")) tab.addEventListener("click", () => selectTab(tab.dataset.tab));
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
}

/** The code field of the flow on screen: where the developer panel's "Use" button puts a code. */
function fillCode(code) {
  const field = document.querySelector("[data-panel]:not([hidden]) [data-code-field]");
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
